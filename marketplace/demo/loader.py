"""Load reference data, certification schemes and demo content from content/, idempotently.

Every record is found by its natural key (code, slug, e-mail, number) and
updated in place, so loading twice never duplicates anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from marketplace.accounts.models import Membership, Role, User
from marketplace.accounts.services import hash_password, normalise_email, verify_password
from marketplace.certification.models import (
    AssuranceLevel,
    Certificate,
    CertificateStatus,
    CertificationScheme,
    Criterion,
    CustodyModel,
)
from marketplace.control.services import enrol
from marketplace.db import utcnow
from marketplace.demo.rows import LoadReport, upsert
from marketplace.extensions import db
from marketplace.funds.demo import load_demo_funds
from marketplace.lots.models import Colour, Lot, LotContribution, LotStatus
from marketplace.notifications.services import quiet
from marketplace.orders.demo import load_demo_orders
from marketplace.organisations.models import Aimag, CooperativeProfile, Organisation, OrgKind, PastureUserGroup, Soum
from marketplace.passports.services import publish_all
from marketplace.payments.demo import load_shop
from marketplace.pricing import services as pricing
from marketplace.pricing.models import MicronBand, PricePolicy
from marketplace.products.demo import load_products


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_reference(content: Path, report: LoadReport) -> None:
    """Aimags (from the shared data set) and the soums used by the demo content."""
    for row in _csv(content / "reference" / "aimags.csv"):
        upsert(Aimag, report, {"code": row["code"]}, {
            "name_en": row["name_en"], "name_mn": row["name_mn"],
            "centre_en": row["centre_en"], "centre_mn": row["centre_mn"],
            "centre_lat": Decimal(row["centre_lat"]), "centre_lon": Decimal(row["centre_lon"]),
            "latin_variants": row["latin_variants"],
        })
    aimags = {a.code: a for a in db.session.scalars(select(Aimag))}
    for row in _csv(content / "reference" / "soums.csv"):
        upsert(Soum, report, {"aimag_id": aimags[row["aimag_code"]].id, "name_en": row["name_en"]}, {
            "name_mn": row["name_mn"], "lat": Decimal(row["lat"]), "lon": Decimal(row["lon"]),
        })


def load_schemes(content: Path, report: LoadReport) -> None:
    for path in sorted((content / "schemes").glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        scheme = upsert(CertificationScheme, report, {"code": data["code"]}, {
            "name": data["name"], "version": data["version"], "owner": data["owner"],
            "description": data.get("description", ""), "url": data.get("url", ""),
            "tiers": "|".join(data.get("tiers", [])),
        })
        for position, item in enumerate(data["criteria"], start=1):
            upsert(Criterion, report, {"scheme_id": scheme.id, "code": item["code"]}, {
                "position": position, "principle": item["principle"], "title": item["title"],
                "guidance": item.get("guidance", ""),
            })


class _Places:
    def __init__(self) -> None:
        self.aimags = {a.code: a for a in db.session.scalars(select(Aimag))}
        self.soums = {(s.aimag.code, s.name_en): s for s in db.session.scalars(select(Soum))}

    def soum(self, aimag: str, name: str) -> Soum:
        return self.soums[(aimag, name)]


def _organisation(report: LoadReport, places: _Places, kind: OrgKind, data: dict[str, Any]) -> Organisation:
    aimag = places.aimags[data["aimag"]] if data.get("aimag") else None
    soum = places.soum(data["aimag"], data["soum"]) if data.get("soum") else None
    return upsert(Organisation, report, {"slug": data["slug"]}, {
        "name": data["name"], "kind": kind, "country": data.get("country", "MN"),
        "city": data.get("city", "Ulaanbaatar" if kind in (OrgKind.msme, OrgKind.union) else ""),
        "aimag": aimag or (places.aimags["ULN"] if kind is OrgKind.msme else None), "soum": soum,
        "description": data.get("description", ""), "women_led": data.get("women_led", False), "is_demo": True,
        "registration_number": data.get("registration_number", ""),
    })


def _certificate(
    *,
    report: LoadReport, holder: Organisation, issuer: Organisation, scheme: CertificationScheme,
    data: dict[str, Any], assurance: AssuranceLevel,
) -> Certificate:
    return upsert(Certificate, report, {"number": data["number"]}, {
        "scheme_id": scheme.id, "holder_id": holder.id, "issuer_id": issuer.id, "tier": data["tier"],
        "assurance_level": assurance,
        "custody_model": CustodyModel(data.get("custody", "segregated")),
        "valid_from": data["valid_from"], "valid_to": data["valid_to"],
        "status": CertificateStatus(data.get("status", "active")), "status_reason": data.get("reason", ""),
    })


def load_demo(content: Path, report: LoadReport) -> None:
    data = tomllib.loads((content / "demo" / "organisations.toml").read_text(encoding="utf-8"))
    places = _Places()
    schemes = {s.code: s for s in db.session.scalars(select(CertificationScheme))}
    union = _organisation(report, places, OrgKind.union, data["union"])
    certifier = _organisation(report, places, OrgKind.certifier, data["certifier"])
    certificates: dict[str, Certificate] = {}
    for item in data["cooperatives"]:
        coop = _organisation(report, places, OrgKind.cooperative, item)
        profile = upsert(CooperativeProfile, report, {"organisation_id": coop.id}, {
            "members": item["members"], "women_members": item["women_members"],
            "herder_households": item["herder_households"], "certified_households": item["certified_households"],
            "declared_capacity_kg": Decimal(item["declared_capacity_kg"]),
            "carrying_capacity_su": item["carrying_capacity_su"], "actual_stocking_su": item["actual_stocking_su"],
            "founded_year": item.get("founded_year"),
        })
        for pug in item["pugs"]:
            upsert(PastureUserGroup, report, {"cooperative_id": profile.organisation_id, "name": pug["name"]}, {
                "soum_id": places.soum(item["aimag"], pug["soum"]).id, "households": pug["households"],
                "area_ha": pug["area_ha"], "rangeland_agreement_ref": pug["agreement"],
                "carrying_capacity_su": pug["capacity_su"], "actual_stocking_su": pug["stocking_su"],
            })
        certificates[coop.slug] = _certificate(
            report=report, holder=coop, issuer=certifier, scheme=schemes["SC"], data=item["certificate"],
            assurance=AssuranceLevel.s3c_external,
        )
    enrol(certifier.id, schemes["SC"].id)  # the S3C controls the Sustainable Cashmere scheme
    for coop_slug in certificates:
        enrol(db.session.scalar(select(Organisation.id).filter_by(slug=coop_slug)), schemes["SC"].id)
    for item in data["msmes"]:
        msme = _organisation(report, places, OrgKind.msme, item)
        if "certificate" in item:
            _certificate(
                report=report, holder=msme, issuer=union, scheme=schemes["MSME-COP"], data=item["certificate"],
                assurance=AssuranceLevel.self_declared,
            )
    for item in data["brands"]:
        _organisation(report, places, OrgKind.brand, item)
    for item in data["users"]:
        _user(report, item)
    _load_lots(content, report, places, certificates)
    load_products(content, report)
    load_shop(report)

    load_demo_orders(report, upsert)

    load_demo_funds(content, report)


def _user(report: LoadReport, item: dict[str, Any]) -> None:
    organisation = db.session.scalar(select(Organisation).filter_by(slug=item["organisation"]))
    user = db.session.scalar(select(User).filter_by(email=normalise_email(item["email"])))
    # Keep an existing hash when the password is unchanged (hashing is deliberately slow).
    password_hash = (
        user.password_hash if user and verify_password(user.password_hash, item["password"])
        else hash_password(item["password"])
    )
    user = upsert(User, report, {"email": normalise_email(item["email"])}, {
        "name": item["name"], "password_hash": password_hash, "active": True,
    })
    upsert(Membership, report, {"user_id": user.id, "organisation_id": organisation.id, "role": Role(item["role"])}, {})


_DECIMALS = (
    "mean_diameter_um", "diameter_cv_pct", "fibres_over_30um_pct", "mean_length_mm", "hair_content_pct",
    "vegetable_matter_pct", "moisture_regain_pct", "net_kg", "available_kg", "reserved_kg", "min_order_kg",
    "deposit_pct",
)
_INTS = ("season", "herder_households", "bags", "sample_size_g", "price_minor", "premium_minor")
_TEXT = ("colour", "sorting", "state", "test_method", "lab_name", "lab_report_number", "currency",
         "price_basis", "incoterm", "incoterm_place")


def _lot_values(row: dict[str, str]) -> dict[str, Any]:
    conv: dict[str, Callable[[str], Any]] = {
        **dict.fromkeys(_DECIMALS, Decimal), **dict.fromkeys(_INTS, int), **dict.fromkeys(_TEXT, str),
    }
    values = {k: fn(row[k]) for k, fn in conv.items()}
    values["dehairing_yield_pct"] = Decimal(row["dehairing_yield_pct"]) if row["dehairing_yield_pct"] else None
    values["tested_on"] = dt.date.fromisoformat(row["tested_on"])
    values["price_valid_until"] = dt.date.fromisoformat(row["price_valid_until"])
    values["status"] = LotStatus(row["status"])
    values["herder_price_minor"] = int(row["herder_price_minor"]) if row.get("herder_price_minor") else None
    values["herder_price_currency"] = "MNT"
    values["premium_to_herders_pct"] = (
        Decimal(row["premium_to_herders_pct"]) if row.get("premium_to_herders_pct") else None
    )
    return values


def _load_price_policies(content: Path, report: LoadReport) -> None:
    """The fair-price policy per season; a changed policy is published as a new revision."""
    path = content / "demo" / "price_policies.toml"
    if not path.exists():
        return
    for item in tomllib.loads(path.read_text(encoding="utf-8"))["policy"]:
        premiums = {(MicronBand(band), Colour(colour)): int(value)
                    for band, colours in item["premiums"].items() for colour, value in colours.items()}
        floors = {"greasy_floor_minor": int(item["greasy_floor_minor"]),
                  "dehaired_floor_minor": int(item["dehaired_floor_minor"])}
        current = pricing.policy_in_force(int(item["season"]), item["currency"])
        if current is not None and pricing.same_policy(current, premiums=premiums, **floors):
            report.count(PricePolicy, False)
            continue
        pricing.publish_policy(season=int(item["season"]), currency=item["currency"], premiums=premiums,
                               published_on=item["published_on"], note=item.get("note", ""), **floors)
        report.count(PricePolicy, True)


def _load_lots(content: Path, report: LoadReport, places: _Places, certificates: dict[str, Certificate]) -> None:
    _load_price_policies(content, report)
    coops = {o.slug: o for o in db.session.scalars(select(Organisation).filter_by(kind=OrgKind.cooperative))}
    for row in _csv(content / "demo" / "lots.csv"):
        slugs = row["cooperative"].split("|")
        lead = coops[slugs[0]]
        values = _lot_values(row)
        existing = db.session.scalar(select(Lot).filter_by(code=row["code"]))
        if existing is not None and existing.reserved_kg + existing.sold_kg > 0 and existing.net_kg == values["net_kg"]:
            # Stock has moved since the demo was loaded: keep the live figures.
            values.pop("available_kg")
            values.pop("reserved_kg")
        lot = upsert(Lot, report, {"code": row["code"]}, {
            **values, "cooperative_id": lead.id, "aimag_id": places.aimags[row["aimag"]].id,
            "soum_id": places.soum(row["aimag"], row["soum"]).id, "certificate_id": certificates[lead.slug].id,
            "listed_at": (existing.listed_at if existing and existing.listed_at else utcnow())
            if values["status"] is LotStatus.listed else None,
        })
        if lot.status is LotStatus.listed:  # listed only at or above the fair-price floor
            blocked = pricing.problem(lot)
            if blocked:
                raise pricing.PricingError(blocked)
            priced = pricing.check(lot)
            if priced is not None and lot.price_policy_id != priced.policy.id:
                lot.price_policy_id = priced.policy.id
        share = (values["net_kg"] / len(slugs)).quantize(Decimal("0.001"))
        households = max(1, values["herder_households"] // len(slugs))
        for slug in slugs:
            upsert(LotContribution, report, {"lot_id": lot.id, "cooperative_id": coops[slug].id}, {
                "kg": share, "herder_households": households,
            })


def load_all(content: Path, *, demo: bool = True, announce: Callable[[list[str]], Iterable[str]] | None = None,
             ) -> LoadReport:
    """Load the content; ``announce(step names)`` yields each step as it starts (progress on the command line)."""
    report = LoadReport()
    names = ["reference data", "certification schemes"] + (["demo content", "passports"] if demo else [])
    for name in (announce or iter)(names):
        if name == "reference data":
            load_reference(content, report)
        elif name == "certification schemes":
            load_schemes(content, report)
        elif name == "demo content":
            with quiet():  # the demo's history (products submitted and approved) tells no one
                load_demo(content, report)
        else:
            published, _unchanged = publish_all()
            report.created["PassportVersion"] = published
    return report
