"""Issue 19, point 7: a passport's access tiers (ESPR). The public passport holds what consumers may see;
prices, herder household data and lab report numbers sit in the value-chain tier, the full assessment reports
in the authority tier; each tier is its own signed credential, hash-linked from the public one, readable only
by those ``access.may_see_tier`` lets in."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws
from playwright.sync_api import expect
from sqlalchemy import select

from marketplace.accounts.models import Role, User
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.organisations.models import Organisation
from marketplace.passports import keys, tiers, untp070
from marketplace.passports.models import Passport
from marketplace.practice.models import PerformanceReport
from tests.conftest import LiveServer
from tests.helpers import page_width, sign_in
from tests.site.test_access import DEMO_PASSWORDS, DEMO_USERS

# Labels the public page shows only when the restricted data is there.
RESTRICTED_LABELS = ("Price paid to herders", "Herder households", "Workplace incidents", "Price of this lot")


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _public_ids(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Passport.public_id).order_by(Passport.id)))


def _subject_of_jwt(token: str) -> Any:
    return json.loads(jws.extract_compact(token.encode()).payload)["credentialSubject"]


def _as(app: Flask, role: Any) -> FlaskClient:
    client = app.test_client()
    response = sign_in(client, DEMO_USERS[role], DEMO_PASSWORDS[role])
    assert response.status_code == 302
    return client


INCIDENTS_NOTE = "Two minor cuts at the dehairing line, first aid given"


def _accepted_report(app: Flask) -> None:
    """The demo MSME's Code of Practice report, accepted by the Union, and its passports republished: the demo
    has none, so no passport has an authority tier before this."""
    from marketplace.passports import services as passports
    from marketplace.practice.models import ReportStatus

    with app.app_context():
        msme = db.session.scalar(select(Organisation).where(Organisation.slug == "khangai-knitwear"))
        db.session.add(PerformanceReport(
            msme_id=msme.id, year=2025, energy_kwh=120000, water_m3=3400, wastewater_treated=True,
            wastewater_note="Settling tanks before the town sewer", chemicals_management="Safety data sheets for dyes",
            workers_women=31, workers_men=9, incidents=2, incidents_note=INCIDENTS_NOTE,
            status=ReportStatus.accepted, reviewed_on=dt.date(2026, 3, 1)))
        db.session.flush()
        for passport in db.session.scalars(select(Passport).where(
                Passport.product.has(organisation_id=msme.id))):
            passports.publish(passport)
        db.session.commit()


def _restricted_strings(app: Flask) -> set[str]:
    """Values that only the restricted tiers hold: the lab report numbers and the full reports' notes."""
    with app.app_context():
        found = {n for n in db.session.scalars(select(Lot.lab_report_number)) if n}
        for report in db.session.scalars(select(PerformanceReport)):
            found |= {t for t in (report.incidents_note, report.wastewater_note, report.chemicals_management)
                      if t and len(t) > 12}
    return found


def test_anonymous_responses_never_carry_restricted_fields(demo_app: Flask) -> None:
    """Walks every passport and every form an anonymous visitor can fetch: 0 tier-2/3 fields."""
    _accepted_report(demo_app)
    client = demo_app.test_client()
    strings = _restricted_strings(demo_app)
    assert INCIDENTS_NOTE in strings  # and the demo's lab report numbers
    leaks: list[str] = []
    walked = sealed = 0
    for public_id in _public_ids(demo_app):
        url = f"/passports/{public_id}"
        subjects: list[tuple[str, Any]] = []
        for untp in ("0.7.0", "0.6.1"):
            subjects.append((f"{url}.json?untp={untp}", client.get(f"{url}.json?untp={untp}").get_json(force=True)
                             ["credentialSubject"]))
            subjects.append((f"{url}.jwt?untp={untp}", _subject_of_jwt(client.get(f"{url}.jwt?untp={untp}")
                                                                         .get_data(as_text=True))))
            subjects.append((url, client.get(url, headers={"Accept": "application/ld+json"})
                             .get_json(force=True)["credentialSubject"]))
        with demo_app.app_context():
            numbers = [v.number for v in db.session.scalar(select(Passport).where(
                Passport.public_id == public_id)).versions]
        for number in numbers:
            subjects.append((f"{url}/versions/{number}",
                             client.get(f"{url}/versions/{number}").get_json(force=True)["credentialSubject"]))
        for where, subject in subjects:
            leaks += [f"{where}: {leak}" for leak in tiers.leaks(subject)]
            walked += 1
            text = json.dumps(subject, ensure_ascii=False)
            leaks += [f"{where}: {s!r}" for s in strings if s in text]
        sealed += bool(subjects[0][1]["cashmere"].get("accessTiers"))
        for locale in ("en", "mn"):
            html = client.get(url, headers={"Accept-Language": locale}).get_data(as_text=True)
            leaks += [f"{url} ({locale}): {s!r}" for s in strings if s in html]
            if locale == "en":
                leaks += [f"{url}: label {label!r}" for label in RESTRICTED_LABELS if label in html]
        for tier in tiers.TIERS:  # the tiers themselves: the sign-in page, never the data
            response = client.get(f"{url}/tiers/{tier}")
            assert response.status_code == 302
            assert "/signin" in response.headers["Location"]
    print(f"\nresponses walked: {walked}; tier-2/3 leaks: {len(leaks)}; passports with sealed tiers: {sealed}")  # noqa: T201
    assert leaks == []
    assert walked > 0
    assert sealed >= len(_public_ids(demo_app)) - 1  # all but one demo passport have restricted data to seal


def test_each_tier_is_a_signed_credential_hash_linked_from_the_public_passport(demo_app: Flask) -> None:
    _accepted_report(demo_app)
    staff = _as(demo_app, Role.union_staff)
    kinds: dict[str, int] = {}
    for public_id in _public_ids(demo_app):
        subject = demo_app.test_client().get(f"/passports/{public_id}.json").get_json(force=True)["credentialSubject"]
        for link in subject["cashmere"].get("accessTiers", []):
            served = staff.get(_path(link["id"]))
            assert served.status_code == 200, link["id"]
            body = served.get_data()
            assert untp070.multibase_sha256(body) == link["digestMultibase"]
            assert "no-store" in served.headers["Cache-Control"]
            token = staff.get(_path(link["id"]), headers={"Accept": "application/vc+jwt"}).get_data(as_text=True)
            with demo_app.app_context():
                payload, key_id = keys.verify_jws(token)
                union_did = keys.did_of(tiers.documents.union())
            assert key_id.startswith(union_did + "#")  # signed by the Union
            assert payload == json.loads(body)
            assert payload["credentialSubject"]["id"].endswith(f"/passports/{public_id}")
            assert payload["credentialSubject"]["accessTier"] == link["accessTier"]
            kinds[link["accessTier"]] = kinds.get(link["accessTier"], 0) + 1
    assert kinds.get(tiers.VALUE_CHAIN, 0) >= len(_public_ids(demo_app)) - 1
    assert kinds.get(tiers.AUTHORITY, 0) >= 1  # the products of an MSME with an accepted report


def test_the_value_chain_tier_holds_what_the_public_passport_left_out(demo_app: Flask) -> None:
    buyer = _as(demo_app, Role.brand_buyer)
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).where(Passport.lot_id.is_not(None)).order_by(Passport.id))
        public_id, lot = passport.public_id, db.session.get(Lot, passport.lot_id)
        report_number, households = lot.lab_report_number, lot.herder_households
    html = buyer.get(f"/passports/{public_id}/tiers/value-chain").get_data(as_text=True)
    assert report_number in html
    assert "herderHouseholds" in html
    subject = demo_app.test_client().get(f"/passports/{public_id}.json").get_json(force=True)["credentialSubject"]
    link = next(t for t in subject["cashmere"]["accessTiers"] if t["accessTier"] == tiers.VALUE_CHAIN)
    tier = buyer.get(_path(link["id"])).get_json(force=True)["credentialSubject"]
    assert tier["cashmere"]["origins"][0]["herderHouseholds"] == households
    assert tier["cashmere"]["origins"][0]["fibreQuality"]["reportNumber"] == report_number
    assert "herderHouseholds" not in subject["cashmere"]["origins"][0]


def _with_both_tiers(app: Flask) -> tuple[str, dict[str, str]]:
    """A product passport with both tiers (its maker's Code of Practice report accepted), and their links."""
    client = app.test_client()
    with app.app_context():
        ids = list(db.session.scalars(select(Passport.public_id).where(Passport.product_id.is_not(None))
                                      .order_by(Passport.id)))
    for public_id in ids:
        subject = client.get(f"/passports/{public_id}.json").get_json(force=True)["credentialSubject"]
        links = {t["accessTier"]: t["id"] for t in subject["cashmere"].get("accessTiers", [])}
        if set(links) == set(tiers.TIERS):
            return public_id, links
    raise AssertionError("no demo passport has both tiers")


def _tier_statuses(app: Flask, client: FlaskClient) -> dict[str, int]:
    public_id, links = _with_both_tiers(app)
    return {
        "value-chain page": client.get(f"/passports/{public_id}/tiers/value-chain").status_code,
        "value-chain credential": client.get(_path(links[tiers.VALUE_CHAIN])).status_code,
        "authority page": client.get(f"/passports/{public_id}/tiers/authority").status_code,
        "authority credential": client.get(_path(links[tiers.AUTHORITY])).status_code,
    }


# Who reads which tier: (role, value-chain tier, authority tier); None is an anonymous visitor (sent to sign in).
WHO = [("brand_buyer", 200, 403), ("msme_editor", 200, 403), ("union_staff", 200, 200), ("admin", 200, 200),
       ("cooperative_manager", 403, 403), ("certifier", 403, 403), (None, 302, 302)]


def test_who_reads_which_tier(demo_app: Flask) -> None:
    _accepted_report(demo_app)
    seen = {}
    for role, value_chain, authority in WHO:
        client = _as(demo_app, Role(role)) if role else demo_app.test_client()
        seen[role] = _tier_statuses(demo_app, client)
        assert seen[role] == {"value-chain page": value_chain, "value-chain credential": value_chain,
                              "authority page": authority, "authority credential": authority}, role
    # A tier version, a passport or a tier that does not exist: a clear 404.
    staff = _as(demo_app, Role.union_staff)
    public_id = _public_ids(demo_app)[0]
    assert staff.get(f"/passports/{public_id}/tiers/value-chain/versions/999.json").status_code == 404
    assert staff.get("/passports/NOPE/tiers/value-chain").status_code == 404
    assert staff.get(f"/passports/{public_id}/tiers/other").status_code == 404


def test_a_buyer_the_union_has_not_verified_reads_no_tier(demo_app: Flask) -> None:
    _accepted_report(demo_app)
    client = _as(demo_app, Role.brand_buyer)
    with demo_app.app_context():
        user = db.session.scalar(select(User).where(User.email == DEMO_USERS[Role.brand_buyer]))
        for org_id in user.organisation_ids(Role.brand_buyer):
            db.session.get(Organisation, org_id).verified_at = None
        db.session.commit()
    assert set(_tier_statuses(demo_app, client).values()) == {403}
    with demo_app.app_context():
        user = db.session.scalar(select(User).where(User.email == DEMO_USERS[Role.brand_buyer]))
        for org_id in user.organisation_ids(Role.brand_buyer):
            db.session.get(Organisation, org_id).verified_at = dt.datetime.now(dt.UTC)
        db.session.commit()
    assert _tier_statuses(demo_app, client)["value-chain page"] == 200


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_a_buyer_signs_in_to_read_a_lots_value_chain_data(live_server: LiveServer, chromium: Any, width: int) -> None:
    """A visitor sees the public passport without the restricted data and a link to it; following the link asks
    them to sign in; a verified buyer then reads the value-chain tier (the lab report number), on a phone and on a
    desk, without sideways scrolling."""
    app = live_server.app
    with app.app_context():
        passport = db.session.scalar(select(Passport).where(Passport.lot_id.is_not(None)).order_by(Passport.id))
        public_id, report_number = passport.public_id, db.session.get(Lot, passport.lot_id).lab_report_number
    context = chromium.new_context(viewport={"width": width, "height": 844 if width < 600 else 900},
                                   is_mobile=width < 600, has_touch=width < 600, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server.url}/passports/{public_id}")
    expect(page.get_by_role("heading", name="Data for the value chain and the authorities")).to_be_visible()
    assert report_number not in page.content()
    assert "Herder households" not in page.content()
    assert page_width(page) <= width
    page.get_by_role("link", name="Value-chain data").click()
    expect(page).to_have_url(re.compile(r"/signin"))
    page.get_by_label("E-mail").fill(DEMO_USERS[Role.brand_buyer])
    page.get_by_label("Password").fill(DEMO_PASSWORDS[Role.brand_buyer])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/passports/{public_id}/tiers/value-chain")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Value-chain data of passport {public_id}")
    expect(page.get_by_role("table")).to_contain_text(report_number)
    expect(page.get_by_role("table")).to_contain_text("herderHouseholds")
    assert page_width(page) <= width
    # The authority tier is not the buyer's.
    response = page.goto(f"{live_server.url}/passports/{public_id}/tiers/authority")
    assert response is not None
    assert response.status == 403
    context.close()
