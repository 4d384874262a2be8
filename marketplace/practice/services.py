"""Commitments, yearly reports and their review; what profiles, passports and the dossier show."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import today, utcnow
from marketplace.extensions import db
from marketplace.i18n import label
from marketplace.organisations.models import CooperativeProfile, Organisation, OrgKind
from marketplace.practice.models import Commitment, CommitmentArea, PerformanceReport, ReportStatus


class PracticeInputError(ValueError):
    """Bad input: the message is shown and nothing is written."""


def _msme(msme_id: int) -> Organisation:
    org = db.session.get(Organisation, msme_id)
    if org is None or org.kind is not OrgKind.msme:
        raise PracticeInputError(_("Only an MSME can declare commitments under the Code."))
    return org


def declare(msme_id: int, texts: dict[CommitmentArea, str], user: User | None) -> list[Commitment]:
    """Declare (or restate) commitments; an unchanged area adds nothing."""
    _msme(msme_id)
    current = commitments(msme_id)
    made = []
    for area, given in texts.items():
        text = (given or "").strip()
        if not text:
            raise PracticeInputError(_("State a commitment for every area of the Code."))
        if len(text) > 2000:
            raise PracticeInputError(_("Keep each commitment under 2,000 characters."))
        if current.get(area) is not None and current[area].text == text:
            continue
        made.append(Commitment(msme_id=msme_id, area=area, text=text, declared_by=user))
    db.session.add_all(made)
    db.session.flush()
    return made


def commitments(msme_id: int) -> dict[CommitmentArea, Commitment | None]:
    found: dict[CommitmentArea, Commitment | None] = dict.fromkeys(CommitmentArea)
    for c in db.session.scalars(select(Commitment).filter_by(msme_id=msme_id).order_by(Commitment.id)):
        found[c.area] = c
    return found


@dataclass
class ReportInput:
    year: int
    energy_kwh: Decimal
    water_m3: Decimal
    wastewater_treated: bool
    wastewater_note: str
    chemicals_management: str
    workers_women: int
    workers_men: int
    incidents: int
    incidents_note: str


def submit_report(msme_id: int, data: ReportInput, user: User | None) -> PerformanceReport:
    _msme(msme_id)
    if data.year > today().year:
        raise PracticeInputError(_("A report cannot be filed for a future year (%(year)s).", year=data.year))
    if data.year < 2000:
        raise PracticeInputError(_("The year must be 2000 or later."))
    if min(data.energy_kwh, data.water_m3) < 0 or min(data.workers_women, data.workers_men, data.incidents) < 0:
        raise PracticeInputError(_("Figures cannot be negative."))
    previous = db.session.scalar(select(PerformanceReport).filter_by(msme_id=msme_id, year=data.year)
                                 .where(PerformanceReport.status != ReportStatus.returned))
    if previous is not None:
        raise PracticeInputError(_("A report for %(year)s is already %(status)s.", year=data.year,
                                   status=_label(previous.status)))
    report = PerformanceReport(msme_id=msme_id, submitted_by=user, **{
        k: (v.strip() if isinstance(v, str) else v) for k, v in data.__dict__.items()})
    db.session.add(report)
    db.session.flush()
    return report


def _label(value: Any) -> str:
    return label(value)


def review(report: PerformanceReport, *, accept: bool, staff: User | None, note: str = "") -> None:
    if report.status is not ReportStatus.submitted:
        raise PracticeInputError(_("This report has already been reviewed."))
    if not accept and not (note or "").strip():
        raise PracticeInputError(_("Say why the report is returned."))
    report.status = ReportStatus.accepted if accept else ReportStatus.returned
    report.reviewed_by, report.reviewed_at, report.reviewed_on = staff, utcnow(), today()
    report.review_note = (note or "").strip()[:500]
    db.session.flush()
    events.report_reviewed.send(report)
    if accept:
        events.practice_report_accepted.send(report.msme_id, report=report)  # passports republish


def reports(msme_id: int | None = None, status: ReportStatus | None = None) -> list[PerformanceReport]:
    query = select(PerformanceReport).order_by(PerformanceReport.year.desc(), PerformanceReport.id.desc())
    if msme_id is not None:
        query = query.where(PerformanceReport.msme_id == msme_id)
    if status is not None:
        query = query.where(PerformanceReport.status == status)
    return list(db.session.scalars(query))


def latest_accepted(msme_id: int) -> PerformanceReport | None:
    found = reports(msme_id, ReportStatus.accepted)
    return found[0] if found else None


def report_dict(r: PerformanceReport) -> dict[str, Any]:
    return {
        "year": r.year, "energyKwh": float(r.energy_kwh), "waterM3": float(r.water_m3),
        "wastewaterTreated": r.wastewater_treated, "wastewaterNote": r.wastewater_note,
        "chemicalsManagement": r.chemicals_management,
        "workers": {"women": r.workers_women, "men": r.workers_men, "total": r.workers},
        "incidents": r.incidents, "incidentsNote": r.incidents_note,
        "reviewedOn": r.reviewed_on.isoformat() if r.reviewed_on else None,
    }


def dossier(msme_id: int, base_url: str) -> dict[str, Any]:
    """The environmental and social dossier for a bank's green-credit screening (accepted reports only)."""
    org = _msme(msme_id)
    return {
        "organisation": {"name": org.name, "id": f"{base_url}/organisations/{org.slug}", "country": org.country,
                         "city": org.city, "womenLed": org.women_led},
        "code": "MSME Voluntary Code of Practice",
        "generatedOn": today().isoformat(),
        "commitments": {area.value: (c.text if c else None) for area, c in commitments(msme_id).items()},
        "reports": [report_dict(r) for r in reports(msme_id, ReportStatus.accepted)],
        "note": "Figures are declared by the MSME and accepted after review by the Union's staff.",
    }


def gender_figures() -> dict[str, Any]:
    """What the Union dashboard aggregates: women members, women-led MSMEs, women workers."""
    members, women = db.session.execute(select(func.coalesce(func.sum(CooperativeProfile.members), 0),
                                               func.coalesce(func.sum(CooperativeProfile.women_members), 0))).one()
    msmes = list(db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.msme)))
    workers_women = workers = 0
    reporting = 0
    for msme in msmes:
        report = latest_accepted(msme.id)
        if report is not None:
            reporting += 1
            workers_women += report.workers_women
            workers += report.workers
    return {
        "members": int(members), "women_members": int(women),
        "women_members_pct": round(100 * women / members, 1) if members else 0.0,
        "msmes": len(msmes), "women_led_msmes": sum(1 for o in msmes if o.women_led),
        "reporting_msmes": reporting, "workers": workers, "women_workers": workers_women,
        "women_workers_pct": round(100 * workers_women / workers, 1) if workers else 0.0,
    }


def passport_block(msme_id: int) -> dict[str, Any] | None:
    report = latest_accepted(msme_id)
    if report is None:
        return None
    return {"report": report_dict(report),
            "commitments": [area.value for area, c in commitments(msme_id).items() if c is not None]}
