"""Issue 19, point 8: no generic environmental claims in what a consumer reads (EU Directive 2024/825). The
check names the offending words; it runs when a product is submitted and again when it is approved and
published, whatever the entry point."""

from __future__ import annotations

import datetime as dt
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.claims import claims_in, generic_claims, site_claims
from marketplace.extensions import db
from marketplace.products import services
from marketplace.products.editing import ProductError
from marketplace.products.models import ProductStatus
from tests.products.test_products import _ready
from tests.products_helpers import signed_in, staff, token, workshop


@pytest.mark.parametrize(("locale", "text", "words"), [
    ("en", "An eco-friendly, sustainable scarf.", ["eco-friendly", "sustainable"]),
    ("en", "Climate neutral knitwear for a conscious wardrobe", ["Climate neutral", "conscious"]),
    ("fr", "Une écharpe écologique et durable.", ["écologique", "durable"]),
    ("de", "Ein nachhaltiger, umweltfreundlicher Schal.", ["nachhaltiger", "umweltfreundlicher"]),
    ("it", "Sciarpa ecologica e sostenibile.", ["ecologica", "sostenibile"]),
    ("it", "Sciarpe ecologiche e sostenibili, maglioni ecologici.", ["ecologiche", "sostenibili", "ecologici"]),
    ("zh", "环保的羊绒围巾", ["环保"]),
    ("mn", "Байгальд ээлтэй ноолууран ороолт.", ["Байгальд ээлтэй"]),
])
def test_generic_claims_are_named_in_every_language(locale: str, text: str, words: list[str]) -> None:
    assert generic_claims(text, locale) == words


@pytest.mark.parametrize("text", [
    "62 % of the fibre by weight is certified sustainable under SFA certificate SC-2025-BKH-001.",
    "Combed by herders of the Union of Sustainable Cashmere Cooperatives.",  # a proper name claims nothing
    "A soft, warm crew-neck sweater in undyed brown cashmere.",
    "Ce pull est durable : 62 % de la fibre est certifiée.",
])
def test_specific_claims_and_plain_descriptions_pass(text: str) -> None:
    assert generic_claims(text) == []


def test_an_english_claim_left_in_another_language_is_caught() -> None:
    assert claims_in({"en": "Soft scarf", "fr": "Écharpe eco-friendly"}) == {"fr": ["eco-friendly"]}


def test_a_product_with_a_generic_claim_is_refused_at_submission_and_at_approval(app: Flask) -> None:
    w = workshop()
    approver = staff()
    product = _ready(app, w)
    with app.test_request_context():
        p = db.session.get(m.Product, product.id)
        p.description = {"en": "An eco-friendly scarf.", "de": "Ein nachhaltiger Schal."}
        db.session.commit()
    editor = signed_in(app.test_client(), w.editor)
    response = editor.post(f"/workspace/products/{product.id}/submit", data={"csrf_token": token(editor)})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Generic environmental claims are not allowed" in page
    assert "eco-friendly" in page
    assert "nachhaltiger" in page
    with app.app_context():
        assert db.session.get(m.Product, product.id).status is ProductStatus.draft

    # Specific again: it is submitted; a claim slipped in afterwards (an import, a staff edit) stops approval.
    with app.test_request_context():
        p = db.session.get(m.Product, product.id)
        p.description = {"en": "62 % of the fibre by weight is certified.", "de": "Weich und warm."}
        services.submit(p, dt.datetime.now(dt.UTC))
        p.name = {**p.name, "fr": "Pull écologique"}
        db.session.commit()
    union = signed_in(app.test_client(), approver)
    response = union.post(f"/union/products/{product.id}/approve", data={"csrf_token": token(union, "/union/products")})
    assert response.status_code == 422
    assert "écologique" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(m.Product, product.id).status is ProductStatus.submitted
        assert db.session.scalar(select(func.count()).select_from(m.ProductVersion)) == 0
        with pytest.raises(ProductError, match="écologique"):
            services.approve(db.session.get(m.Product, product.id), None, dt.datetime.now(dt.UTC))


def test_a_label_without_third_party_monitoring_is_not_shown_as_a_certification(demo_app: Flask) -> None:
    """The passport's summary lists as "Certification" only schemes monitored by a third party; the MSME Code of
    Practice (self-declared) is named as a commitment without third-party monitoring."""
    from marketplace.certification.models import AssuranceLevel, Certificate
    from marketplace.passports import services as passports
    from marketplace.passports.models import Passport

    client = demo_app.test_client()
    with demo_app.app_context():
        declared = {c.number: c.scheme.name for c in db.session.scalars(select(Certificate)) if c.assurance_level
                    in (AssuranceLevel.self_declared, AssuranceLevel.internal_control)}
        monitored = {c.number: c.scheme.name for c in db.session.scalars(select(Certificate))
                     if c.number not in declared}
        pages = [(p.public_id, {c.number for c in passports.passport_certificates(p)})
                 for p in db.session.scalars(select(Passport).order_by(Passport.id))]
    checked = 0
    for public_id, numbers in pages:
        if not numbers & set(declared):
            continue
        html = client.get(f"/passports/{public_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
        summary = html[html.index('<dl class="summary-facts">'):html.index("</dl>", html.index("summary-facts"))]
        certified = summary.split("<dt>Certification</dt>", 1)[1].split("</dd>", 1)[0]
        commitments = summary.split("<dt>Commitments without third-party monitoring</dt>", 1)[1].split("</dd>", 1)[0]
        for number in numbers & set(declared):
            assert declared[number] in commitments
            assert declared[number] not in certified
        for number in numbers & set(monitored):
            assert monitored[number] in certified
        checked += 1
    assert checked > 0


# The site's own consumer-facing strings (point 8 "in all six languages"): every English message, every
# translation, the public pages and the demo content the loader publishes.
ROOT = Path(__file__).resolve().parent.parent.parent
LOCALES = ("mn", "fr", "de", "it", "zh")


def _toml_texts(where: str, value: object, locale: str | None = None) -> Iterator[tuple[str, str | None, str]]:
    if isinstance(value, str):
        yield where, locale, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _toml_texts(f"{where}.{key}", item, key if key in ("en", *LOCALES) else locale)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _toml_texts(f"{where}[{i}]", item, locale)


def consumer_texts(root: Path = ROOT) -> Iterator[tuple[str, str | None, str]]:
    """(where, locale or None for any language, text) for every consumer-facing string the site ships."""
    translations = root / "marketplace" / "translations"
    with (translations / "messages.pot").open("rb") as f:
        for message in read_po(f):
            for text in message.id if isinstance(message.id, tuple) else (message.id,):
                if text:
                    yield f"messages.pot: {text[:40]}", "en", text
    for locale in LOCALES:
        with (translations / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
            for message in read_po(f, locale=locale):
                for text in message.string if isinstance(message.string, tuple) else (message.string,):
                    if text:
                        yield f"{locale}/messages.po: {message.id!s:.40}", locale, text
    for page in sorted((root / "content" / "pages").glob("*.md")):
        locale = page.stem.rsplit(".", 1)[-1]
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            yield f"{page.relative_to(root)}:{number}", locale, line
    for data in sorted((root / "content").glob("*/*.toml")):
        yield from _toml_texts(str(data.relative_to(root)), tomllib.loads(data.read_text(encoding="utf-8")))


def test_the_sites_own_strings_carry_no_generic_claim_in_any_language() -> None:
    texts = list(consumer_texts())
    assert len(texts) > 5000  # the catalogues, pages and demo content were all read
    assert site_claims(texts) == []


def test_a_generic_claim_added_to_a_catalogue_or_a_page_is_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "marketplace" / "translations", tmp_path / "marketplace" / "translations",
                    ignore=shutil.ignore_patterns("*.mo"))
    shutil.copytree(ROOT / "content", tmp_path / "content")
    po = tmp_path / "marketplace" / "translations" / "it" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8") + '\nmsgid "Planted"\nmsgstr "Sciarpe ecosostenibili"\n',
                  encoding="utf-8")
    page = tmp_path / "content" / "pages" / "about.de.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nUnser Kaschmir ist nachhaltig.\n", encoding="utf-8")
    found = {(where.split(":")[0], tuple(words)) for where, _text, words in site_claims(consumer_texts(tmp_path))}
    assert found == {("it/messages.po", ("ecosostenibili",)), ("content/pages/about.de.md", ("nachhaltig",))}


def test_the_sites_own_names_pass_only_in_the_sites_own_strings() -> None:
    assert site_claims([("page", "fr", "L'Union des coopératives de cachemire durable, Oulan-Bator.")]) == []
    assert generic_claims("Un cachemire durable.", "fr") == ["durable"]  # a product text gets no such pass
