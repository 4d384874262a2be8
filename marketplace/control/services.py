"""The three control levels, the pre-certified household list, certificate decisions and their audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from marketplace.accounts.models import User
from marketplace.certification import services as certification
from marketplace.certification.models import (
    AssuranceLevel,
    Certificate,
    CertificateStatus,
    CertificationScheme,
    CustodyModel,
)
from marketplace.control import evidence
from marketplace.control.models import (
    Assessment,
    CertificateEvent,
    ControlLevel,
    CriterionResult,
    Decision,
    EvidenceFile,
    Household,
    Outcome,
    ParticipationAction,
    ParticipationEvent,
    Result,
    SchemeParticipant,
)
from marketplace.db import today
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind

MAX_FILES = 10


class ControlInputError(ValueError):
    """Bad input for a control step: the message is shown and nothing is written."""


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def is_participant(organisation_id: int, scheme_id: int) -> bool:
    return db.session.get(SchemeParticipant, (organisation_id, scheme_id)) is not None


def schemes_of(organisation_id: int) -> list[CertificationScheme]:
    return list(db.session.scalars(
        select(CertificationScheme).join(SchemeParticipant, SchemeParticipant.scheme_id == CertificationScheme.id)
        .where(SchemeParticipant.organisation_id == organisation_id).order_by(CertificationScheme.code)
    ))


def enrol(organisation_id: int, scheme_id: int) -> SchemeParticipant:
    found = db.session.get(SchemeParticipant, (organisation_id, scheme_id))
    if found is None:
        found = SchemeParticipant(organisation_id=organisation_id, scheme_id=scheme_id)
        db.session.add(found)
        db.session.flush()
    return found


def participants(scheme_id: int, kind: OrgKind) -> list[Organisation]:
    return list(db.session.scalars(
        select(Organisation).join(SchemeParticipant, SchemeParticipant.organisation_id == Organisation.id)
        .where(SchemeParticipant.scheme_id == scheme_id, Organisation.kind == kind).order_by(Organisation.name)))


def _join(organisation_id: int | None, scheme_id: int | None, kind: OrgKind, action: ParticipationAction,
          actor: User | None) -> SchemeParticipant:
    scheme = db.session.get(CertificationScheme, scheme_id) if scheme_id else None
    if scheme is None:
        raise ControlInputError(_("Choose one of the certification schemes."))
    org = db.session.get(Organisation, organisation_id) if organisation_id else None
    if org is None or org.kind is not kind:
        raise ControlInputError(_("Choose one of the cooperatives.") if kind is OrgKind.cooperative
                                else _("Choose one of the certifier organisations."))
    if is_participant(org.id, scheme.id):
        raise ControlInputError(
            _("%(org)s is already enrolled in the %(scheme)s scheme.", org=org.name, scheme=scheme.name)
            if kind is OrgKind.cooperative else
            _("%(org)s is already accredited for the %(scheme)s scheme.", org=org.name, scheme=scheme.name))
    participant = enrol(org.id, scheme.id)
    db.session.add(ParticipationEvent(organisation_id=org.id, scheme_id=scheme.id, action=action, actor=actor))
    db.session.flush()
    return participant


def enrol_cooperative(cooperative_id: int | None, scheme_id: int | None, actor: User | None) -> SchemeParticipant:
    """Union staff enrol a cooperative in a scheme (audited). Raises ControlInputError."""
    return _join(cooperative_id, scheme_id, OrgKind.cooperative, ParticipationAction.enrolled, actor)


def accredit_certifier(certifier_id: int | None, scheme_id: int | None, actor: User | None) -> SchemeParticipant:
    """Union staff accredit a certifier organisation to control a scheme (audited). Raises ControlInputError."""
    return _join(certifier_id, scheme_id, OrgKind.certifier, ParticipationAction.accredited, actor)


def participation_events(limit: int = 50) -> list[ParticipationEvent]:
    return list(db.session.scalars(select(ParticipationEvent).order_by(ParticipationEvent.id.desc()).limit(limit)))


def add_household(cooperative_id: int, reference: str) -> Household:
    reference = (reference or "").strip()
    if not reference or len(reference) > 40:
        raise ControlInputError(_("Give the household's reference in the cooperative's register "
                                  "(up to 40 characters)."))
    if db.session.scalar(select(Household.id).filter_by(cooperative_id=cooperative_id, reference=reference)):
        raise ControlInputError(_("A household with this reference is already registered."))
    household = Household(cooperative_id=cooperative_id, reference=reference)
    db.session.add(household)
    db.session.flush()
    return household


def households(cooperative_id: int) -> list[Household]:
    return list(db.session.scalars(select(Household).filter_by(cooperative_id=cooperative_id)
                                   .order_by(Household.reference)))


def _latest(level: ControlLevel, household_id: int, scheme_id: int) -> Assessment | None:
    return db.session.scalar(
        select(Assessment).where(Assessment.level == level, Assessment.household_id == household_id,
                                 Assessment.scheme_id == scheme_id)
        .order_by(Assessment.performed_on.desc(), Assessment.id.desc()).limit(1)
    )


def pre_certified(cooperative_id: int, scheme_id: int) -> list[Household]:
    """Households with a self-evaluation whose latest internal control passed."""
    found = []
    for household in households(cooperative_id):
        internal = _latest(ControlLevel.internal_control, household.id, scheme_id)
        if internal is not None and internal.outcome is Outcome.passed and _latest(
                ControlLevel.self_evaluation, household.id, scheme_id) is not None:
            found.append(household)
    return found


@dataclass(frozen=True)
class PublicCounts:
    """What public pages may show: counts and shares, never households."""

    households: int
    pre_certified: int

    @property
    def share_pct(self) -> float:
        return round(100 * self.pre_certified / self.households, 1) if self.households else 0.0


def public_counts(cooperative_id: int, scheme_id: int) -> PublicCounts:
    total = db.session.scalar(select(func.count()).select_from(Household).filter_by(cooperative_id=cooperative_id))
    return PublicCounts(total or 0, len(pre_certified(cooperative_id, scheme_id)))


def _check_results(scheme: CertificationScheme, results: Mapping[int, tuple[Result, str]]) -> None:
    own = {c.id for c in scheme.criteria}
    foreign = set(results) - own
    if foreign:
        raise ControlInputError(_("A result was given for a criterion that is not part of %(scheme)s.",
                                  scheme=scheme.name))
    missing = own - set(results)
    if missing:
        raise ControlInputError(_("Give a result for every criterion of %(scheme)s (%(n)s missing).",
                                  scheme=scheme.name, n=len(missing)))


def _files(uploads: Sequence[Upload]) -> list[tuple[Upload, str, str, object]]:
    if len(uploads) > MAX_FILES:
        raise ControlInputError(_("Attach at most %(n)s files.", n=MAX_FILES))
    checked = []
    for upload in uploads:
        try:
            media, key, stored = evidence.check(upload.data)
        except evidence.EvidenceRejected as exc:
            name = upload.filename or _("File")
            raise ControlInputError(_("%(file)s: %(problem)s", file=name, problem=exc)) from None
        checked.append((upload, media, key, stored))
    return checked


def _check_external(scheme: CertificationScheme, actor_organisation_id: int, decision: Decision | None) -> None:
    actor_org = db.session.get(Organisation, actor_organisation_id)
    if actor_org is None or actor_org.kind is not OrgKind.certifier or not is_participant(
            actor_organisation_id, scheme.id):
        raise ControlInputError(_("Your organisation is not accredited to control the %(scheme)s scheme.",
                                  scheme=scheme.name))
    if decision is None:
        raise ControlInputError(_("Choose a decision on the certificate."))


def _check_internal(level: ControlLevel, cooperative_id: int, scheme_id: int, household_id: int | None,
                    outcome: Outcome | None) -> None:
    household = db.session.get(Household, household_id) if household_id else None
    if household is None or household.cooperative_id != cooperative_id:
        raise ControlInputError(_("Choose one of the cooperative's households."))
    if outcome is None:
        raise ControlInputError(_("Choose the outcome."))
    if level is ControlLevel.internal_control and _latest(
            ControlLevel.self_evaluation, household.id, scheme_id) is None:
        raise ControlInputError(_("The household needs a self-evaluation before its internal control."))


def _scheme_and_cooperative(scheme_id: int, cooperative_id: int) -> tuple[CertificationScheme, Organisation]:
    scheme = db.session.get(CertificationScheme, scheme_id)
    cooperative = db.session.get(Organisation, cooperative_id)
    if scheme is None or cooperative is None or cooperative.kind is not OrgKind.cooperative:
        raise ControlInputError(_("Choose a cooperative and a scheme."))
    if not is_participant(cooperative_id, scheme_id):
        raise ControlInputError(_("%(coop)s is not in the %(scheme)s scheme: no results can be recorded for it.",
                                  coop=cooperative.name, scheme=scheme.name))
    return scheme, cooperative


def record_assessment(
    *, level: ControlLevel, scheme_id: int, cooperative_id: int, actor: User | None, actor_organisation_id: int,
    results: Mapping[int, tuple[Result, str]], performed_on: dt.date | None, household_id: int | None = None,
    outcome: Outcome | None = None, decision: Decision | None = None, tier: str = "",
    valid_to: dt.date | None = None, notes: str = "", uploads: Sequence[Upload] = (), reason: str = "",
) -> Assessment:
    """Record one control step with its criterion results and evidence. Raises ControlInputError."""
    scheme, cooperative = _scheme_and_cooperative(scheme_id, cooperative_id)
    if performed_on is None or performed_on > today():
        raise ControlInputError(_("The date of the control cannot be in the future."))
    _check_results(scheme, results)
    if level is ControlLevel.external_control:
        _check_external(scheme, actor_organisation_id, decision)
    else:
        _check_internal(level, cooperative_id, scheme_id, household_id, outcome)
    checked = _files(uploads)
    assessment = Assessment(
        level=level, scheme_id=scheme_id, cooperative_id=cooperative_id, household_id=household_id,
        performed_on=performed_on, performed_by=actor, actor_organisation_id=actor_organisation_id,
        outcome=outcome, decision=decision, tier=tier or None, notes=(notes or "").strip(),
    )
    event = None
    if decision is not None and level is ControlLevel.external_control:
        event = _decide(assessment, scheme=scheme, cooperative=cooperative, decision=decision,
                        tier=tier, valid_to=valid_to, actor=actor, reason=reason or notes)
    db.session.add(assessment)
    db.session.flush()
    for criterion_id, (result, comment) in results.items():
        db.session.add(CriterionResult(assessment_id=assessment.id, criterion_id=criterion_id, result=result,
                                       comment=(comment or "").strip()[:500]))
    for upload, media, key, stored in checked:
        evidence.save(db.session(), stored)
        db.session.add(EvidenceFile(assessment_id=assessment.id, key=key, media_type=media,
                                    size_bytes=len(upload.data), sha256=stored.sha256,
                                    original_name=(upload.filename or "")[:200]))
    if event is not None:
        event.assessment_id = assessment.id
        db.session.add(event)
    db.session.flush()
    return assessment


def _current_certificate(cooperative_id: int, scheme_id: int) -> Certificate | None:
    return db.session.scalar(
        select(Certificate).where(Certificate.holder_id == cooperative_id, Certificate.scheme_id == scheme_id)
        .order_by(Certificate.valid_to.desc(), Certificate.id.desc()).limit(1)
    )


def _check_grant(scheme: CertificationScheme, cooperative: Organisation, tier: str, valid_to: dt.date | None,
                 on: dt.date) -> dt.date:
    if tier not in scheme.tier_list:
        raise ControlInputError(_("Choose one of the scheme's tiers: %(tiers)s.", tiers=", ".join(scheme.tier_list)))
    if valid_to is None or valid_to <= on:
        raise ControlInputError(_("The certificate must be valid until a date after the control."))
    if not pre_certified(cooperative.id, scheme.id):
        raise ControlInputError(_("The cooperative has no pre-certified households: the internal control "
                                  "must pass for at least one household first."))
    return valid_to


def _issue(assessment: Assessment, scheme: CertificationScheme, cooperative: Organisation, *, tier: str,
           valid_to: dt.date, current: Certificate | None) -> Certificate:
    on = assessment.performed_on
    if current is not None and current.status in (CertificateStatus.active, CertificateStatus.suspended) \
            and current.valid_to >= on:
        raise ControlInputError(_("The cooperative already holds certificate %(number)s: renew it instead.",
                                  number=current.number))
    cert = Certificate(
        number=_next_number(scheme, cooperative, on), scheme_id=scheme.id, holder_id=cooperative.id,
        issuer_id=assessment.actor_organisation_id, tier=tier, assurance_level=AssuranceLevel.s3c_external,
        custody_model=CustodyModel.segregated, valid_from=on, valid_to=valid_to,
        status=CertificateStatus.active, status_reason="",
    )
    db.session.add(cert)
    return cert


def _change(cert: Certificate, decision: Decision, reason: str) -> None:
    new = CertificateStatus.suspended if decision is Decision.suspend else CertificateStatus.revoked
    if len((reason or "").strip()) < 10:
        raise ControlInputError(_("Give the reason (at least 10 characters): it is shown on every passport."))
    try:
        certification.change_status(cert, new, reason)
    except certification.TransitionError:
        raise ControlInputError(_("A %(old)s certificate cannot be changed to that status.",
                                  old=cert.status.value)) from None


def _authorise(cert: Certificate, actor: User | None, reason: str) -> None:
    """Renew, suspend and revoke go through the certificate's one ownership rule.

    Raises CertificateAccessError (the caller answers 403) or ControlInputError (an admin without a reason)."""
    try:
        certification.authorise_change(cert, actor, reason)
    except certification.AuditReasonError as exc:
        raise ControlInputError(str(exc)) from None


def _decide(
    assessment: Assessment, *, scheme: CertificationScheme, cooperative: Organisation, decision: Decision,
    tier: str, valid_to: dt.date | None, actor: User | None, reason: str,
) -> CertificateEvent:
    """Issue, renew, suspend or revoke the cooperative's certificate; the audit event to record."""
    current = _current_certificate(cooperative.id, scheme.id)
    old = current.status.value if current is not None else ""
    if decision is not Decision.issue:
        if current is None:
            raise ControlInputError(_("The cooperative holds no certificate of this scheme: issue one first."))
        _authorise(current, actor, reason)
    if decision in (Decision.issue, Decision.renew):
        valid_to = _check_grant(scheme, cooperative, tier, valid_to, assessment.performed_on)
    if decision is Decision.issue:
        cert = _issue(assessment, scheme, cooperative, tier=tier, valid_to=valid_to,  # type: ignore[arg-type]
                      current=current)
    elif decision is Decision.renew:
        assert current is not None
        if current.status is CertificateStatus.revoked:
            raise ControlInputError(_("A revoked certificate cannot be renewed: issue a new one."))
        cert = current  # the issuer stays: only the issuing certifier may renew (see _authorise)
        cert.tier, cert.valid_to, cert.status, cert.status_reason = tier, valid_to, CertificateStatus.active, ""
    else:
        cert = current
        _change(cert, decision, reason)
    db.session.flush()
    assessment.certificate = cert
    return CertificateEvent(
        certificate_id=cert.id, action=decision.value, old_status=old, new_status=cert.status.value, tier=cert.tier,
        valid_to=cert.valid_to, reason=(reason or "").strip(), actor=actor,
    )


def _next_number(scheme: CertificationScheme, cooperative: Organisation, on: dt.date) -> str:
    base = f"{scheme.code}-{on.year}-{cooperative.slug[:20].upper()}"
    n = 1
    while db.session.scalar(select(Certificate.id).filter_by(number=f"{base}-{n:02d}")) is not None:
        n += 1
    return f"{base}-{n:02d}"


def log_status_change(cert: Certificate, old: CertificateStatus, actor: User | None, reason: str) -> None:
    """Audit a status change made from the certificate's own page."""
    db.session.add(CertificateEvent(certificate_id=cert.id, action="status", old_status=old.value,
                                    new_status=cert.status.value, tier=cert.tier, valid_to=cert.valid_to,
                                    reason=reason.strip(), actor=actor))
    db.session.flush()


def certificate_events(cert_id: int) -> list[CertificateEvent]:
    return list(db.session.scalars(select(CertificateEvent).filter_by(certificate_id=cert_id)
                                   .order_by(CertificateEvent.at, CertificateEvent.id)))


def assessments(cooperative_id: int) -> list[Assessment]:
    return list(db.session.scalars(select(Assessment).filter_by(cooperative_id=cooperative_id)
                                   .order_by(Assessment.performed_on.desc(), Assessment.id.desc())))
