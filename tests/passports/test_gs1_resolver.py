"""The GS1-Conformant resolver (GS1 resolver standard 1.2), clause by clause, on the demo content."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports import resolver, services
from marketplace.passports.gs1 import DigitalLinkError, parse_path
from marketplace.passports.models import Passport
from marketplace.products import services as products
from marketplace.products.models import Product, ProductStatus, RecycledOrigin
from marketplace.products.rules import gtin14, gtin_check_digit
from tests.helpers import text
from tests.products_helpers import workshop

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
LINKSET = "application/linkset+json"


@dataclass
class Demo:
    gtin: str  # as stored: 14 digits
    batch: str
    passport: str  # public id
    product_id: int
    base: str


def _demo(app: Flask) -> Demo:
    """A published demo product with a GTIN, a batch, certificates, care codes and a repair service."""
    with app.app_context():
        for product in db.session.scalars(select(Product).where(
                Product.status == ProductStatus.published, Product.gtin.is_not(None)).order_by(Product.id)):
            passport = db.session.scalar(select(Passport).where(Passport.product_id == product.id))
            if (passport and product.batch_code and product.care_codes and product.circular_services.get("repair")
                    and services.passport_certificates(passport)):
                return Demo(product.gtin, product.batch_code, passport.public_id, product.id, services.base_url())
    raise AssertionError("no suitable demo product")


@pytest.fixture
def demo(demo_app: Flask) -> Demo:
    return _demo(demo_app)


def test_demo_gtins_are_stored_as_gtin14_with_the_mongolian_prefix(demo_app: Flask) -> None:
    with demo_app.app_context():
        gtins = db.session.scalars(select(Product.gtin)).all()
    assert gtins
    assert all(g is not None and len(g) == 14 and g.startswith("0865") for g in gtins)


# ---- 307 to the default link -------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [None, "*/*", BROWSER, "text/html", "application/ld+json"])
def test_default_link_is_a_307_for_browsers_curl_and_apps(demo_app: Flask, demo: Demo, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    response = demo_app.test_client().get(f"/01/{demo.gtin}", headers=headers)
    assert response.status_code == 307
    assert response.headers["Location"] == f"/passports/{demo.passport}"


def test_batch_serial_and_variant_qualifiers_resolve_and_a_wrong_batch_does_not(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    for path in (f"/01/{demo.gtin}/10/{demo.batch}", f"/01/{demo.gtin}/10/{demo.batch}/21/000123",
                 f"/01/{demo.gtin}/22/V1/10/{demo.batch}", f"/01/{demo.gtin}/21/X-9"):
        assert client.get(path).status_code == 307, path
    response = client.get(f"/01/{demo.gtin}/10/NOT-{demo.batch}"[:60])
    assert response.status_code == 404
    assert "No published product has this GTIN and batch" in text(response)


def test_gtins_of_every_length_resolve_to_the_same_product(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    for gtin in (demo.gtin, demo.gtin[1:]):  # GTIN-14 and the GTIN-13 printed under the barcode
        response = client.get(f"/01/{gtin}?linkType=linkset")
        assert response.status_code == 200
        assert response.get_json(force=True)["linkset"][0]["anchor"] == f"{demo.base}/01/{demo.gtin}"
    with demo_app.app_context():  # a UPC-A (GTIN-12) as a US maker would type it
        product = db.session.get(Product, demo.product_id)
        product.gtin = gtin14("036000291452")
        db.session.commit()
    assert client.get("/01/036000291452").status_code == 307
    assert client.get("/01/00036000291452").status_code == 307


def test_a_percent_encoded_slash_stays_inside_the_batch(demo_app: Flask, demo: Demo) -> None:
    with demo_app.app_context():
        db.session.get(Product, demo.product_id).batch_code = "B/26-1"
        db.session.commit()
    client = demo_app.test_client()
    response = client.get(f"/01/{demo.gtin}/10/B%2F26-1?linkType=linkset")
    assert response.status_code == 200
    assert response.get_json(force=True)["linkset"][0]["anchor"] == f"{demo.base}/01/{demo.gtin}/10/B%2F26-1"
    assert client.get(f"/01/{demo.gtin}/10/B%2F26-1").status_code == 307
    # Unencoded, the slash splits the value: "26-1" is read as an application identifier.
    assert client.get(f"/01/{demo.gtin}/10/B/26-1").status_code == 400


# ---- linkset ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "accept"), [
    ("?linkType=linkset", None), ("?linkType=all", None), ("?linkType=gs1:linkset", None), ("", LINKSET),
    ("", f"{LINKSET}, */*;q=0.1"), ("?linkType=linkset", "*/*"),
])
def test_linkset_by_link_type_or_accept(demo_app: Flask, demo: Demo, query: str, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    response = demo_app.test_client().get(f"/01/{demo.gtin}{query}", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == LINKSET
    body = response.get_json(force=True)
    assert list(body) == ["linkset"]
    assert len(body["linkset"]) == 1
    entry = body["linkset"][0]
    assert entry["anchor"] == f"{demo.base}/01/{demo.gtin}"
    for rel, targets in entry.items():  # RFC 9264: every relation holds an array of target objects
        if rel != "anchor":
            assert rel.startswith("https://"), rel
            assert targets
            assert all(t["href"].startswith(demo.base) and t["title"] and t["type"] for t in targets)
    for rel in ("defaultLink", "pip", "sustainabilityInfo", "certificationInfo", "careInstructions", "jws"):
        assert f"https://gs1.org/voc/{rel}" in entry, rel
    assert entry["https://gs1.org/voc/defaultLink"][0]["href"] == f"{demo.base}/passports/{demo.passport}"


# ---- each linkType to its own target ------------------------------------------------------------------------

@pytest.mark.parametrize(("link_type", "accept", "target"), [
    ("gs1:pip", None, "/passports/{p}"),
    ("https://gs1.org/voc/pip", None, "/passports/{p}"),
    ("https://ref.gs1.org/voc/pip", BROWSER, "/passports/{p}"),
    ("gs1:defaultLink", None, "/passports/{p}"),
    ("gs1:sustainabilityInfo", None, "/passports/{p}.json"),
    ("gs1:sustainabilityInfo", "application/vc+jwt", "/passports/{p}.jwt"),
    ("gs1:dpp", None, "/passports/{p}.json"),
    ("untp:dpp", "*/*", "/passports/{p}.json"),
    ("gs1:jws", None, "/passports/{p}.jwt"),
    ("gs1:certificationInfo", None, "/certificates/"),
    ("gs1:careInstructions", BROWSER, "/products/{id}#care-h"),
    ("gs1:repairInformation", None, "/products/{id}#circular-h"),
    ("gs1:verificationService", None, "/passports/verify"),
])
def test_each_link_type_goes_to_its_own_target(demo_app: Flask, demo: Demo, link_type: str, accept: str | None,
                                               target: str) -> None:
    headers = {"Accept": accept} if accept else {}
    client = demo_app.test_client()
    response = client.get(f"/01/{demo.gtin}", query_string={"linkType": link_type}, headers=headers)
    assert response.status_code == 307, text(response)
    location = response.headers["Location"]
    path = location.split("?")[0] + ("#" + location.split("#")[1] if "#" in location else "")
    assert path.startswith(target.format(p=demo.passport, id=demo.product_id))
    # The target really serves what the link says it does.
    served = client.get(location.split("#")[0], headers=headers)
    assert served.status_code == 200, location


def test_certification_links_point_at_conformity_credentials(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    entry = client.get(f"/01/{demo.gtin}?linkType=linkset").get_json(force=True)["linkset"][0]
    for link in entry["https://gs1.org/voc/certificationInfo"]:
        credential = client.get(link["href"].removeprefix(demo.base)).get_json(force=True)
        assert "DigitalConformityCredential" in credential["type"]


# ---- Link header, HEAD, description file -------------------------------------------------------------------

def test_link_header_on_redirects_and_linksets(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    for response in (client.get(f"/01/{demo.gtin}"), client.get(f"/01/{demo.gtin}?linkType=linkset"),
                     client.get(f"/01/{demo.gtin}?linkType=gs1:nothing")):
        header = response.headers["Link"]
        assert f'<{demo.base}/01/{demo.gtin}?linkType=linkset>; rel="linkset"; type="{LINKSET}"' in header
        assert 'rel="https://gs1.org/voc/pip"' in header
        assert "Accept" in response.headers["Vary"]


def test_head_answers_like_get_without_a_body(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    for query in ("", "?linkType=linkset", "?linkType=gs1:nothing"):
        get, head = client.get(f"/01/{demo.gtin}{query}"), client.head(f"/01/{demo.gtin}{query}")
        assert head.status_code == get.status_code
        assert head.headers.get("Location") == get.headers.get("Location")
        assert head.headers["Link"] == get.headers["Link"]
        assert head.data == b""
    assert client.head("/01/123").status_code == 400


def test_resolver_description_file(demo_app: Flask, demo: Demo) -> None:
    response = demo_app.test_client().get("/.well-known/gs1resolver")
    assert response.status_code == 200
    body = response.get_json(force=True)
    assert body["resolverRoot"] == demo.base
    assert body["supportedPrimaryKeys"] == ["01"]
    assert body["linkTypeDefaultCanBeLinkset"] is True
    assert {"namespace": "https://gs1.org/voc/", "prefix": "gs1:", "profile": "https://gs1.org/voc/"} in \
        body["supportedLinkType"]
    assert "gs1:pip" in body["linkTypes"]
    assert "gs1:certificationInfo" in body["linkTypes"]


# ---- bad input: the right 4xx with a clear body, never 5xx ------------------------------------------------

@pytest.mark.parametrize(("path", "status", "problem"), [
    ("/01/{g}?linkType=gs1:nonsense", 404, "no link of type gs1:nonsense"),
    ("/01/{g}?linkType=https://example.org/x", 404, "no link of type"),
    ("/01/{g}?linkType=%3Cscript%3E", 400, "linkType is malformed"),
    ("/01/{g}?linkType=", 307, ""),
    ("/01/{gbad}", 400, "check digit"),
    ("/01/86500010000X5", 400, "digits only"),
    ("/01/12345", 400, "8, 12, 13 or 14 digits"),
    ("/01/{g}/21/1/10/B", 400, "wrong order"),
    ("/01/{g}/10/B/22/V", 400, "wrong order"),
    ("/01/{g}/10/" + "A" * 21, 400, "longer than the standard allows (20 characters)"),
    ("/01/{g}/21/" + "9" * 21, 400, "longer than the standard allows"),
    ("/01/{g}/10/%FF", 400, "not UTF-8"),
    ("/01/{g}/10/%C3%A9", 400, "outside the GS1 character set"),
    ("/01/{g}/99/x", 400, "Unknown or unsupported"),
    ("/01/{g}/10", 400, "followed by a value"),
    ("/01/{g}/10/A/10/B", 400, "appears twice"),
    ("/01/{unknown}", 404, "No published product has this GTIN"),
])
def test_bad_resolver_input_gets_a_clear_4xx(demo_app: Flask, demo: Demo, path: str, status: int,
                                             problem: str) -> None:
    bad = demo.gtin[:-1] + str((int(demo.gtin[-1]) + 1) % 10)
    unknown = "0865000999999" + str(gtin_check_digit("0865000999999"))
    response = demo_app.test_client().get(path.format(g=demo.gtin, gbad=bad, unknown=unknown))
    assert response.status_code == status, text(response)[:500]
    assert problem in text(response)


@pytest.mark.parametrize(("query", "accept"), [
    ("", "image/png"), ("?linkType=gs1:pip", "application/pdf"), ("?linkType=gs1:sustainabilityInfo", "text/html"),
])
def test_an_accept_header_matching_nothing_gets_a_406_with_the_linkset_link(
        demo_app: Flask, demo: Demo, query: str, accept: str) -> None:
    response = demo_app.test_client().get(f"/01/{demo.gtin}{query}", headers={"Accept": accept})
    assert response.status_code == 406
    assert f"{demo.base}/01/{demo.gtin}?linkType=linkset" in text(response)
    assert "linkset" in response.headers["Link"]


_SEGMENT = st.text(alphabet=st.sampled_from(list("0123456789AZaz-./%~_ !\"'?#é")), max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rest=st.lists(_SEGMENT, min_size=1, max_size=6), link_type=st.one_of(st.none(), _SEGMENT))
def test_no_digital_link_path_or_link_type_gets_a_5xx(demo_client: FlaskClient, rest: list[str],
                                                      link_type: str | None) -> None:
    from urllib.parse import quote

    path = "/01/" + "/".join(quote(s, safe="") for s in rest)
    response = demo_client.get(path, query_string={"linkType": link_type} if link_type is not None else None)
    # 308: Werkzeug's own redirect when an encoded slash leaves an empty segment ("//").
    assert response.status_code in (200, 307, 308, 400, 404, 406), (path, link_type, response.status_code)


def test_parse_path_decodes_after_splitting() -> None:
    link = parse_path("/01/8650001000015/10/AB%2F1%25/21/S%3F1")
    assert (link.gtin, link.lot, link.serial) == ("08650001000015", "AB/1%", "S?1")
    assert link.path() == "/01/08650001000015/10/AB%2F1%25/21/S%3F1"
    with pytest.raises(DigitalLinkError, match="must start with the GTIN"):
        parse_path("/10/ABC/01/8650001000015")


def test_decide_never_gives_the_linkset_for_a_wildcard() -> None:
    from werkzeug.datastructures import MIMEAccept

    links = resolver.product_links(passport_url="https://x/p", product_url=None, certificate_urls=[], care=False,
                                   repair=False, verify_url="https://x/v")
    assert resolver.decide(None, MIMEAccept([("*/*", 1)]), True, links).kind == "redirect"
    assert resolver.decide(None, MIMEAccept([(LINKSET, 1)]), True, links).kind == "linkset"
    assert resolver.decide(None, MIMEAccept([("text/html", 1), (LINKSET, 0.5)]), True, links).kind == "redirect"


# ---- GTIN-14 at input --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "stored"), [
    ("036000291452", "00036000291452"), ("8650001000015", "08650001000015"), ("96385074", "00000096385074"),
    (" 08650001000015 ", "08650001000015"),
])
def test_a_gtin_is_stored_as_gtin14_whatever_its_typed_length(app: Flask, typed: str, stored: str) -> None:
    w = workshop()
    data = products.ProductData(
        line_id=w.line.id, sku="T-1", gtin=typed, name={"en": "T"}, description={},
        fibre_composition={"cashmere": "100"}, recycled_pct=Decimal(0), recycled_origin=RecycledOrigin.none,
        dyed=False, care_codes=[], sizes=[], weight_g=Decimal(200), price_minor=100, circular_services={},
        production_date=None)
    with app.app_context():
        product = products.save_product(None, w.msme.id, data)
        assert product.gtin == stored
        # The same GTIN typed in another length is the same GTIN.
        same = stored if typed.strip() != stored else stored[1:]
        other = products.ProductData(**{**data.__dict__, "sku": "T-2", "gtin": same})
        with pytest.raises(products.ProductError, match="Another product already uses this GTIN"):
            products.save_product(None, w.msme.id, other)
        bad = products.ProductData(**{**data.__dict__, "sku": "T-3", "gtin": stored[:-1] + "x"})
        with pytest.raises(products.ProductError, match="check digit"):
            products.save_product(None, w.msme.id, bad)


def test_migration_pads_stored_gtins_to_14_digits(app: Flask) -> None:
    from flask_migrate import downgrade, upgrade

    from tests import factories

    product = factories.ProductFactory(gtin="8650001000015")
    other = factories.ProductFactory(gtin="not-a-gtin")
    factories.current_session().commit()
    with app.app_context():
        downgrade(revision="0013")
        upgrade()
        assert db.session.get(Product, product.id).gtin == "08650001000015"
        assert db.session.get(Product, other.id).gtin == "not-a-gtin"


# ---- QR codes and hang tags carry the Digital Link -----------------------------------------------------------

def _decode_qr(png: bytes) -> str:
    import io

    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert len(found) == 1
    return str(found[0].text)


def test_qr_of_a_gtin_product_decodes_to_its_digital_link_and_resolves(demo_app: Flask, demo: Demo) -> None:
    client = demo_app.test_client()
    uri = _decode_qr(client.get(f"/passports/{demo.passport}/qr.png").data)
    assert uri == f"{demo.base}/01/{demo.gtin}/10/{demo.batch}"
    response = client.get(uri.removeprefix(demo.base))  # what a phone does with it
    assert response.status_code == 307
    assert response.headers["Location"] == f"/passports/{demo.passport}"
    # The hang tags print the same code (the same modules, drawn at the labels' scale).
    import io

    import segno

    labels = text(client.get(f"/passports/{demo.passport}/labels"))
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=4, border=2)
    svg = buffer.getvalue().decode()
    assert svg[svg.index(' d="'):].split('"')[1] in labels


def test_qr_leaves_out_a_batch_gs1_cannot_carry_and_a_lot_qr_gives_the_passport_url(
        demo_app: Flask, demo: Demo) -> None:
    with demo_app.app_context():
        db.session.get(Product, demo.product_id).batch_code = "Batch 2026 (spring)"  # spaces: not GS1 characters
        db.session.commit()
        lot_passport = db.session.scalar(select(Passport.public_id).where(Passport.lot_id.is_not(None)).limit(1))
    client = demo_app.test_client()
    assert _decode_qr(client.get(f"/passports/{demo.passport}/qr.png").data) == f"{demo.base}/01/{demo.gtin}"
    assert _decode_qr(client.get(f"/passports/{lot_passport}/qr.png").data) == f"{demo.base}/passports/{lot_passport}"
