"""The MSME workspace, bad input, yields, the mass balance, approval and versions."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.certification.models import CertificateStatus
from marketplace.extensions import db
from marketplace.products import services
from marketplace.products.models import ImmutableProductVersionError, ProductStatus, StepKind
from marketplace.products.rules import gtin_is_valid, parse_composition
from marketplace.products.search import product_document
from tests import factories
from tests.crawl import sign_in_demo
from tests.helpers import statements_run, text
from tests.products_helpers import jpeg_bytes, product_form, signed_in, staff, token, workshop


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- Rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gtin", "valid"), [
    ("4006381333931", True), ("4006381333932", False), ("96385074", True), ("96385075", False),
    ("036000291452", True), ("10036000291459", True), ("10036000291458", False), ("400638133393", False),
    ("40063813339a1", False),
])
def test_gtin_check_digit(gtin: str, valid: bool) -> None:
    assert gtin_is_valid(gtin) is valid


def test_composition_must_total_100(app: Flask) -> None:
    with app.test_request_context():
        assert parse_composition("cashmere: 95\nsilk: 5") == {"cashmere": "95", "silk": "5"}
        with pytest.raises(ValueError, match="90"):
            parse_composition("cashmere: 90")
        with pytest.raises(ValueError, match="not a known fibre"):
            parse_composition("unobtanium: 100")


# --- Creating products through the workspace ---------------------------------------------------

def test_editor_creates_a_product(app: Flask) -> None:
    w = workshop()
    client = signed_in(app.test_client(), w.editor)
    response = client.post("/workspace/products/new", data={**product_form(w.line.id), "csrf_token": token(client)})
    assert response.status_code == 302, text(response)
    with app.app_context():
        product = db.session.scalar(select(m.Product).filter_by(sku="TEST-CREW-1"))
        assert product.organisation_id == w.msme.id
        assert product.status is ProductStatus.draft
        assert product.fibre_composition == {"cashmere": "100"}
        assert product.care_codes == ["wash-hand", "dry-flat"]
        assert product.price_minor == 24500
        assert product.circular_services == {"repair": {"conditions": {"en": "Free repair."}, "price_minor": None,
                                                        "currency": "EUR"}}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"gtin": "4006381333932"}, "check digit is wrong"),
    ({"composition": "cashmere: 80\nsilk: 10"}, "adds up to 90%"),
    ({"care_codes": ["wash-95"]}, "not a valid choice"),
    ({"recycled_pct": "30", "recycled_origin": "none"}, "pre-consumer or post-consumer"),
    ({"weight_g": "0"}, "Weight"),
    ({"price_eur": "-5"}, "Consumer price"),
    ({"price_eur": "NaN"}, "Consumer price"),
    ({"price_eur": "12.345"}, "at most 2 decimal places"),
    ({"weight_g": "Infinity"}, "Weight"),
    ({"recycled_pct": "NaN"}, "Recycled content"),
    ({"sku": "bad sku with spaces"}, "letters, digits"),
])
def test_bad_product_input_gets_field_errors_and_writes_nothing(app: Flask, overrides: dict, message: str) -> None:
    w = workshop()
    client = signed_in(app.test_client(), w.editor)
    response = client.post("/workspace/products/new",
                           data={**product_form(w.line.id, **overrides), "csrf_token": token(client)})
    assert response.status_code == 422
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert _count(app, m.Product) == 0


def test_another_msmes_line_cannot_be_used(app: Flask) -> None:
    w, other = workshop(), workshop()
    client = signed_in(app.test_client(), w.editor)
    response = client.post("/workspace/products/new", data={**product_form(other.line.id), "csrf_token": token(client)})
    assert response.status_code == 422
    assert _count(app, m.Product) == 0


# --- Provenance: steps and the mass balance ------------------------------------------------------

def _product(w, **kw):  # type: ignore[no-untyped-def]
    return factories.ProductFactory(line=w.line, production_date=dt.date(2026, 8, 1), **kw)


@pytest.mark.parametrize(("kind", "kg_in", "kg_out", "message"), [
    ("spinning", "10", "10.5", "Spinning: 10.5 kg out is more than 10 kg in"),
    ("dehairing", "100", "20", "Dehairing: a yield of 20.0% is outside the possible range for dehairing, 25–70%"),
    ("dehairing", "100", "75", "Dehairing: a yield of 75.0% is outside the possible range for dehairing, 25–70%"),
    ("knitting", "0", "0", "Kg must be more than 0"),
    ("knitting", "-3", "1", "Kg must be more than 0"),
    ("knitting", "1e15", "1", "That is more than 1000000"),
    ("knitting", "NaN", "1", "Not a valid decimal value"),
    ("knitting", "2", "0.0001", "at most 3 decimal places"),
])
def test_impossible_yields_are_refused_naming_step_and_limit(app: Flask, kind, kg_in, kg_out, message) -> None:  # type: ignore[no-untyped-def]
    w = workshop()
    product = _product(w)
    client = signed_in(app.test_client(), w.editor)
    response = client.post(f"/workspace/products/{product.id}/steps", data={
        "kind": kind, "facility_id": w.msme.id, "performed_on": "2026-07-01", "kg_in": kg_in, "kg_out": kg_out,
        "csrf_token": token(client),
    })
    assert response.status_code == 422
    assert message in text(response).replace("&#39;", "'")
    assert _count(app, m.ProcessingStep) == 0


def test_step_with_impact_figures(app: Flask) -> None:
    w = workshop()
    product = _product(w)
    client = signed_in(app.test_client(), w.editor)
    base = {"kind": "dehairing", "facility_id": w.msme.id, "performed_on": "2026-07-01", "kg_in": "100",
            "kg_out": "48", "energy_kwh": "240", "csrf_token": token(client)}
    response = client.post(f"/workspace/products/{product.id}/steps", data=base)
    assert response.status_code == 422
    assert "measured, declared or estimated" in text(response)
    response = client.post(f"/workspace/products/{product.id}/steps", data={
        **base, "energy_basis": "measured", "water_l": "0", "water_basis": "declared", "co2e_kg": "252",
        "co2e_basis": "estimated"})
    assert response.status_code == 302
    with app.app_context():
        step = db.session.scalar(select(m.ProcessingStep))
        assert (step.kind, step.yield_pct, step.energy_basis.value) == (StepKind.dehairing, Decimal("48.0"), "measured")


@pytest.mark.parametrize(("kg", "message"), [
    ("0", "more than 0 kg"), ("-5", "more than 0 kg"), ("0.0001", "at most 3 decimal places"),
    ("abc", "Not a valid decimal value"), ("1e15", "That is more than 1000000"),
    ("200.001", "has only 200.000 kg left for products"),
])
def test_bad_source_kg_is_refused(app: Flask, kg: str, message: str) -> None:
    w = workshop(net="500", available="300")  # 200 kg sold
    product = _product(w)
    client = signed_in(app.test_client(), w.editor)
    response = client.post(f"/workspace/products/{product.id}/sources",
                           data={"lot_id": w.lot.id, "kg": kg, "csrf_token": token(client)})
    assert response.status_code == 422
    assert message in text(response)
    assert _count(app, m.ProductSource) == 0


def test_mass_balance_across_products_and_msmes(app: Flask) -> None:
    w = workshop(net="500", available="300")  # 200 kg have left the Union's stock
    other = workshop()
    first, second = _product(w), _product(other)
    with app.test_request_context():
        services.link_source(db.session.get(m.Product, first.id), w.lot.id, Decimal("150"))
        with pytest.raises(services.MassBalanceError, match=r"only 50\.000 kg left"):
            services.link_source(db.session.get(m.Product, second.id), w.lot.id, Decimal("60"))
        services.link_source(db.session.get(m.Product, second.id), w.lot.id, Decimal("50"))
        # Re-linking replaces the product's own claim instead of adding to it.
        services.link_source(db.session.get(m.Product, first.id), w.lot.id, Decimal("150"))
        db.session.commit()
        assert services.claimed_kg(w.lot.id) == Decimal("200")


def test_stock_on_offer_to_buyers_cannot_be_claimed(app: Flask) -> None:
    w = workshop(net="500", available="500")  # nothing has left the Union's stock
    product = _product(w)
    with app.test_request_context(), pytest.raises(services.MassBalanceError):
        services.link_source(db.session.get(m.Product, product.id), w.lot.id, Decimal("1"))


# --- Workflow and versions ---------------------------------------------------------------------

def _ready(app: Flask, w, lot=None):  # type: ignore[no-untyped-def]
    """A complete draft: a source, a step and an image."""
    product = _product(w)
    with app.test_request_context():
        p = db.session.get(m.Product, product.id)
        services.link_source(p, (lot or w.lot).id, Decimal("20"))
        services.add_step(p, services.StepData(StepKind.spinning, w.msme.id, dt.date(2026, 7, 1),
                                               Decimal("20"), Decimal("18.5")))
        services.add_image(p, jpeg_bytes(), {"en": "A sweater"})
        db.session.commit()
    return product


def test_submit_approve_publish_and_edit_makes_a_new_version(app: Flask) -> None:
    w = workshop()
    approver = staff()
    product = _ready(app, w)
    editor = signed_in(app.test_client(), w.editor)
    submitted = editor.post(f"/workspace/products/{product.id}/submit", data={"csrf_token": token(editor)})
    assert submitted.status_code == 302
    # Submitted: locked for the MSME.
    response = editor.post(f"/workspace/products/{product.id}/sources",
                           data={"lot_id": w.lot.id, "kg": "1", "csrf_token": token(editor)})
    assert response.status_code == 422
    assert "waiting for the Union" in text(response)
    assert app.test_client().get(f"/products/{product.id}").status_code == 404

    union = signed_in(app.test_client(), approver)
    assert product.sku in text(union.get("/union/products"))
    response = union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert response.status_code == 302
    page = app.test_client().get(f"/products/{product.id}")
    assert page.status_code == 200
    assert "Crew-neck sweater" in text(page)
    assert "Crew-neck sweater" in text(app.test_client().get("/products"))

    # Editing the published product: consumers keep seeing version 1 until version 2 is approved.
    response = editor.post(f"/workspace/products/{product.id}", data={
        **product_form(w.line.id, sku=product.sku, gtin="", name_en="Renamed sweater"), "csrf_token": token(editor)})
    assert response.status_code == 302, text(response)
    with app.app_context():
        p = db.session.get(m.Product, product.id)
        assert (p.status, p.version, p.published_number) == (ProductStatus.draft, 2, 1)
    assert "Crew-neck sweater" in text(app.test_client().get(f"/products/{product.id}"))
    editor.post(f"/workspace/products/{product.id}/submit", data={"csrf_token": token(editor)})
    union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert "Renamed sweater" in text(app.test_client().get(f"/products/{product.id}"))
    old = app.test_client().get(f"/products/{product.id}?version=1")
    assert "Crew-neck sweater" in text(old)
    assert "Renamed sweater" not in text(old)

    # Fibre a published version declares stays claimed: it cannot be unlinked or lowered.
    csrf = token(editor)
    response = editor.post(f"/workspace/products/{product.id}/sources/{w.lot.id}/remove", data={"csrf_token": csrf})
    assert response.status_code == 422
    assert "cannot be unlinked" in text(response)
    response = editor.post(f"/workspace/products/{product.id}/sources",
                           data={"lot_id": w.lot.id, "kg": "5", "csrf_token": csrf})
    assert response.status_code == 422
    assert "cannot go below it" in text(response)

    with app.app_context():
        version = db.session.scalar(select(m.ProductVersion).filter_by(product_id=product.id, number=1))
        version.snapshot = {"name": {"en": "tampered"}}
        with pytest.raises(ImmutableProductVersionError):
            db.session.flush()
        db.session.rollback()


def test_staff_cannot_approve_a_draft_the_msme_never_submitted(app: Flask) -> None:
    """A product ready in every way but not submitted: the Union's approval is refused with the reason and
    nothing is published. (Found by a mutation review: with the check removed no test noticed.)"""
    w = workshop()
    product = _ready(app, w)
    union = signed_in(app.test_client(), staff())
    response = union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert response.status_code == 422
    assert "Only a submitted product can be approved." in text(response)
    with app.app_context():
        assert db.session.get(m.Product, product.id).status is ProductStatus.draft
        assert db.session.scalar(select(func.count()).select_from(m.ProductVersion)) == 0
    assert app.test_client().get(f"/products/{product.id}").status_code == 404


def test_a_size_cannot_take_another_products_gtin(app: Flask) -> None:
    """A GTIN names one trade item: a size may not reuse another product's (the database only keeps sizes'
    GTINs apart). Refused with the field's message, nothing written. (Found by a mutation review.)"""
    from marketplace.products import stock
    from marketplace.products.services import ProductError

    w = workshop()
    first = factories.ProductFactory(line=w.line, gtin="04012345000016")
    second = factories.ProductFactory(line=w.line)
    with app.test_request_context():
        other = db.session.get(m.Product, second.id)
        with pytest.raises(ProductError, match="already has this GTIN"):
            stock.save_variant(other, None, size="M", colour="", stock=3, gtin="4012345000016")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(m.ProductVariant)) == 0
        assert db.session.get(m.Product, first.id).gtin == "04012345000016"


def test_the_size_rule_itself_refuses_a_negative_or_huge_stock(app: Flask) -> None:
    """The form bounds the stock and the database has a CHECK, but the rule is the service's: refused with the
    field's message, nothing written. (Found by a mutation review.)"""
    from marketplace.products import stock
    from marketplace.products.services import ProductError

    w = workshop()
    product = factories.ProductFactory(line=w.line)
    for count in (-1, stock.MAX_STOCK + 1):
        with app.test_request_context():
            with pytest.raises(ProductError, match="Stock must be between 0 and"):
                stock.save_variant(db.session.get(m.Product, product.id), None, size="M", colour="", stock=count,
                                   gtin=None)
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(m.ProductVariant)) == 0


def test_submission_needs_sources_steps_images_and_date(app: Flask) -> None:
    w = workshop()
    product = factories.ProductFactory(line=w.line)
    client = signed_in(app.test_client(), w.editor)
    response = client.post(f"/workspace/products/{product.id}/submit", data={"csrf_token": token(client)})
    assert response.status_code == 422
    for message in ("production date", "certified lot", "processing step", "picture"):
        assert message in text(response)
    with app.app_context():
        assert db.session.get(m.Product, product.id).status is ProductStatus.draft


def test_union_cannot_approve_when_a_certificate_is_not_valid_on_the_production_date(app: Flask) -> None:
    w = workshop()
    certificate = w.lot.certificate
    certificate.status = CertificateStatus.suspended
    certificate.status_reason = "Herd sizes above the plan."
    factories.current_session().commit()
    product = _ready(app, w)
    with app.test_request_context():
        services.submit(db.session.get(m.Product, product.id), dt.datetime.now(dt.UTC))
        db.session.commit()
    union = signed_in(app.test_client(), staff())
    page = text(union.get(f"/union/products/{product.id}"))
    assert f"Certificate {certificate.number} is suspended on 2026-08-01" in page
    assert "Herd sizes above the plan." in page
    assert "Approve and publish" not in page
    response = union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(m.Product, product.id).status is ProductStatus.submitted
        assert db.session.scalar(select(func.count()).select_from(m.ProductVersion)) == 0


def test_certificate_not_yet_valid_is_explained(app: Flask) -> None:
    w = workshop()
    w.lot.certificate.valid_from = dt.date(2026, 9, 1)
    factories.current_session().commit()
    product = _ready(app, w)
    with app.test_request_context():
        checks = services.certificate_checks(db.session.get(m.Product, product.id))
        assert not checks[0].valid
        assert "not yet valid on 2026-08-01" in checks[0].reason


def test_reject_needs_a_reason_and_the_msme_sees_it(app: Flask) -> None:
    w = workshop()
    product = _ready(app, w)
    with app.test_request_context():
        services.submit(db.session.get(m.Product, product.id), dt.datetime.now(dt.UTC))
        db.session.commit()
    union = signed_in(app.test_client(), staff())
    csrf = token(union, "/union/products")
    response = union.post(f"/union/products/{product.id}/reject", data={"reason": "  ", "csrf_token": csrf})
    assert response.status_code == 422
    response = union.post(f"/union/products/{product.id}/reject",
                          data={"reason": "The knitting step has no date.", "csrf_token": csrf})
    assert response.status_code == 302
    editor = signed_in(app.test_client(), w.editor)
    page = text(editor.get(f"/workspace/products/{product.id}"))
    assert "The knitting step has no date." in page


# --- Catalogue -----------------------------------------------------------------------------------

def test_catalogue_filters_on_demo_content(demo_app: Flask) -> None:
    client = demo_app.test_client()
    everything = text(client.get("/products"))
    assert "16 products" in everything
    recycled = text(client.get("/products?recycled=y"))
    assert "Second-life scarf" in recycled
    assert "Undyed crew-neck" not in recycled
    undyed = text(client.get("/products?undyed=y"))
    assert "navy" not in undyed
    assert "Undyed crew-neck" in undyed
    repair = text(client.get("/products?repairable=y"))
    assert "Repair-ready cardigan" in repair
    assert "Woven stole" not in repair
    fragment = client.get("/products?recycled=y", headers={"HX-Request": "true"})
    assert "<html" not in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "Re-knit gloves" not in everything  # submitted, not approved
    assert client.get("/products/99999").status_code == 404
    with demo_app.app_context():
        versions = services.catalogue(services.CatalogueFilters())
        assert len(versions) == 16
        crew = next(v for v in versions if v.snapshot["sku"] == "KK-UE-CREW-LG")
        assert [s["lot_code"] for s in crew.snapshot["sources"]] == ["USCC-2025-BKH-001"]
        assert crew.repairable is True
        assert crew.dyed is False
        document = product_document(db.session.get(m.Product, crew.product_id))  # what the search index holds
        assert (document["sku"], document["dyed"]) == ("KK-UE-CREW-LG", "no")


def test_demo_content_has_complete_products(demo_app: Flask) -> None:
    with demo_app.app_context():
        published = db.session.scalars(select(m.Product).where(m.Product.status == ProductStatus.published)).all()
        assert len(published) >= 12
        assert len({p.organisation_id for p in published}) >= 4
        for product in published:
            assert product.images, product.sku
            assert product.sources or product.components, product.sku
            assert product.steps, product.sku
            assert all(s.energy_basis and s.co2e_kg is not None for s in product.steps), product.sku
        assert db.session.scalar(select(func.count()).where(m.Product.status == ProductStatus.submitted)) >= 1
        for lot_id in {s.lot_id for p in published for s in p.sources}:
            lot = db.session.get(m.Lot, lot_id)
            assert services.claimed_kg(lot_id) <= lot.sold_kg


def test_yarn_batches_are_a_mass_balanced_source(demo_app: Flask) -> None:
    """A knitter uses a spinner's published yarn batch: never more kg in all than the batch yielded."""
    with demo_app.app_context():
        yarn = db.session.scalar(select(m.Product).where(m.Product.sku == "AYS-YARN-226-WH"))
        assert services.batch_output_kg(yarn) == Decimal("37.4")
        yarn_id = yarn.id
        khangai = db.session.scalar(select(m.Product).where(m.Product.sku == "KK-UE-SCARF-WH"))
        line_id = khangai.line_id
    line = factories.current_session().get(m.ProductLine, line_id)
    first = factories.ProductFactory(line=line, production_date=dt.date(2026, 10, 1))
    second = factories.ProductFactory(line=line, production_date=dt.date(2026, 10, 1))
    client = signed_in(demo_app.test_client(), factories.user_with_role(
        m.Role.msme_editor, factories.current_session().get(m.Organisation, line.organisation_id)))
    csrf = token(client)
    # The demo gloves already use 12 kg of it: 25.4 kg are left.
    response = client.post(f"/workspace/products/{first.id}/components",
                           data={"component_id": yarn_id, "kg": "20", "csrf_token": csrf})
    assert response.status_code == 302
    response = client.post(f"/workspace/products/{second.id}/components",
                           data={"component_id": yarn_id, "kg": "10", "csrf_token": csrf})
    assert response.status_code == 422
    assert "has only 5.400 kg left" in text(response)
    with demo_app.app_context():
        # The editor's choice lists the batch with what is left, in the same few queries however many
        # published batches there are (it once read each product's version and claims one by one).
        with statements_run(db.engine) as statements:
            options = services.sourceable_batches(exclude_product_id=second.id)
        left = {option.product.sku: option.remaining_kg for option in options}
        assert left["AYS-YARN-226-WH"] == Decimal("5.4")
        assert second.id not in {option.product.id for option in options}
        assert len(options) >= 2
        assert len(statements) <= 4, statements  # products, their organisations, versions, claims
    with demo_app.test_request_context():
        product = db.session.get(m.Product, first.id)
        assert services.component_claimed_kg(yarn_id) == Decimal("32")
        # The yarn's own lots are checked for the approval, on the yarn's production date.
        checks = services.certificate_checks(product)
        assert [c.source.lot.code for c in checks] == ["USCC-2025-ARK-015"]
        assert all(c.valid for c in checks)
        assert "certified lot or yarn batch" not in " ".join(services.submission_problems(product))


def test_the_facility_choices_read_every_aimag_in_one_query(demo_app: Flask) -> None:
    """The product editor's step form labels a facility without a city by its aimag: the aimags come with the list
    of facilities (one query), not one lazy load per aimag while the page writes the labels."""
    with demo_app.app_context():
        for organisation in services.facilities():
            organisation.city = ""  # no city given: the label names the aimag
        db.session.commit()
        engine = db.engine
        named = {f"{o.name} ({o.aimag.name_en})" for o in services.facilities() if o.aimag}
    client = sign_in_demo(demo_app, "msme_editor")
    editor = re.search(r'href="(/workspace/products/\d+)"', text(client.get("/workspace/products")))
    assert editor is not None
    with statements_run(engine) as ran:
        page = client.get(editor.group(1))
    assert page.status_code == 200
    assert len({aimag for aimag in named if f">{escape(aimag)}<" in text(page)}) >= 2  # labels in several aimags
    assert len([statement for statement, _ in ran if "FROM aimag" in statement]) == 1, ran
