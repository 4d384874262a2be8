"""Brand buyers have no public profile; a product under edit stays buyable at its published version
(issue 14, #9)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Flask
from sqlalchemy import select

from marketplace import models as m
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.organisations.models import OrgKind
from marketplace.payments.models import ConsumerOrder
from marketplace.products import services
from marketplace.products.models import ProductStatus, StepKind
from tests import factories
from tests.helpers import ADDRESS, csrf_token, sign_in, text


def test_only_the_union_cooperatives_msmes_and_certifiers_have_public_profiles(demo_app: Flask) -> None:
    with demo_app.app_context():
        slugs = {kind: db.session.scalar(select(m.Organisation.slug).filter_by(kind=kind).order_by(m.Organisation.id))
                 for kind in OrgKind}
    anonymous = demo_app.test_client()
    for kind in (OrgKind.union, OrgKind.cooperative, OrgKind.msme, OrgKind.certifier):
        assert anonymous.get(f"/organisations/{slugs[kind]}").status_code == 200, kind
    buyer_profile = f"/organisations/{slugs[OrgKind.brand]}"
    assert anonymous.get(buyer_profile).status_code == 404
    # A brand that signed up on its own is not public either; another brand's buyer does not see it.
    signup = demo_app.test_client()
    response = signup.post("/signup", data={
        "csrf_token": csrf_token(signup, "/signup"), "name": "New buyer", "email": "new@brand.example",
        "password": "a long enough password", "confirm": "a long enough password", "account_type": "brand_buyer",
        "organisation": "Nouvelle Maison", "country": "FR", "registration_number": "FR40303265045"})
    assert response.status_code == 200, text(response)  # "check your e-mail": the account waits for confirmation
    with demo_app.app_context():
        new_slug = db.session.scalar(select(m.Organisation.slug).filter_by(name="Nouvelle Maison"))
    slugs_to_check = [buyer_profile, f"/organisations/{new_slug}"]
    factories.user_with_role(Role.brand_buyer, email="other@brand.example")
    other_client = demo_app.test_client()
    sign_in(other_client, "other@brand.example")
    for path in slugs_to_check:
        assert anonymous.get(path).status_code == 404, path
        assert other_client.get(path).status_code == 404, path
    # Its own members and Union staff still see it.
    own = demo_app.test_client()
    sign_in(own, "buyer@demo.example", "demo-buyer-2026")
    assert own.get(buyer_profile).status_code == 200
    staff = demo_app.test_client()
    sign_in(staff, "staff@demo.example", "demo-staff-2026")
    assert staff.get(buyer_profile).status_code == 200


def test_a_product_under_edit_is_sold_at_its_published_version(demo_app: Flask) -> None:
    with demo_app.test_request_context():
        product = db.session.get(m.Product, 1)
        published_price = product.price_minor
        services.add_step(product, services.StepData(  # the MSME starts editing: a new working copy
            kind=StepKind.finishing, facility_id=product.organisation_id, performed_on=dt.date(2026, 1, 5),
            kg_in=Decimal("10"), kg_out=Decimal("9.9"), energy_kwh=None, energy_basis=None, water_l=None,
            water_basis=None, co2e_kg=None, co2e_basis=None, source_note=""))
        product.price_minor = published_price * 3  # not approved: buyers must not pay it
        db.session.commit()
        assert product.status is ProductStatus.draft
    client = demo_app.test_client()
    page = text(client.get("/products/1"))
    assert 'action="/cart/add"' in page  # the page offers it …
    token = csrf_token(client, "/products/1")
    variant = page.split('name="variant_id"')[1].split('<option value="')[1].split('"')[0]  # its first size
    added = client.post("/cart/add", data={"csrf_token": token, "product_id": "1", "variant_id": variant,
                                           "quantity": "2"})
    assert added.status_code == 302  # … and the cart takes it
    cart = text(client.get("/cart"))
    form_id = cart.split('name="form_id" type="hidden" value="')[1].split('"')[0]
    response = client.post("/cart/checkout", data={"csrf_token": token, "form_id": form_id,
                                                    "email": "shopper@example.com", **ADDRESS})
    assert response.status_code == 302
    with demo_app.app_context():
        order = db.session.scalar(select(ConsumerOrder))
        assert [(line.product_id, line.unit_price_minor) for line in order.lines] == [(1, published_price)]
        assert order.goods_minor == 2 * published_price
        assert order.total_minor == 2 * published_price + order.shipping_minor


def test_a_product_never_published_is_neither_offered_nor_sold(demo_app: Flask) -> None:
    with demo_app.app_context():
        never = db.session.scalar(select(m.Product.id).where(m.Product.published_number.is_(None)))
    client = demo_app.test_client()
    assert client.get(f"/products/{never}").status_code == 404
    token = csrf_token(client)
    assert client.post("/cart/add", data={"csrf_token": token, "product_id": str(never), "quantity": "1"}
                       ).status_code == 404
