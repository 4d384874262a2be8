"""A passport's live status, and the status lists issued from it (issued on change, never on a read)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.db import as_utc, today, utcnow
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.passports import status as status_list
from marketplace.passports import untp
from marketplace.passports.models import (
    Passport,
    StatusListVersion,
)
from marketplace.passports.reading import base_url, passport_certificates
from marketplace.passports.signing import canonical_json, get_signer
from marketplace.products.models import Product, ProductSource


@dataclass
class LiveStatus:
    revoked: bool = False
    suspended: bool = False
    expired: bool = False
    reasons: list[str] = field(default_factory=list)
    certificates: dict[str, CertificateStatus] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Changes whenever anything shown about the status changes (for ETags)."""
        return json.dumps([self.revoked, self.suspended, self.expired, sorted(self.certificates.items())])


def live_status(
    passport: Passport, day: dt.date | None = None, certificates: list[Certificate] | None = None
) -> LiveStatus:
    day = day or today()
    result = LiveStatus()
    if passport.revoked_reason:
        result.revoked = True
        result.reasons.append(passport.revoked_reason)
    for cert in passport_certificates(passport) if certificates is None else certificates:
        state = cert.status_on(day)
        result.certificates[cert.number] = state
        if state is CertificateStatus.revoked:
            result.revoked = True
            result.reasons.append(f"Certificate {cert.number} was revoked. {cert.status_reason}".strip())
        elif state is CertificateStatus.suspended:
            result.suspended = True
            result.reasons.append(f"Certificate {cert.number} is suspended. {cert.status_reason}".strip())
        elif state is CertificateStatus.expired:
            result.expired = True
            result.reasons.append(f"Certificate {cert.number} expired on {cert.valid_to.isoformat()}.")
    return result


SCOPE_CHUNK = 500  # public ids per query when only some passports' status is read


def status_indexes(public_ids: Collection[str] | None = None) -> dict[str, set[int]]:
    """Indexes set in each status list, from the live state of every passport (or of only the passports
    ``public_ids`` names: ``passports verify --since`` reads those its new entries touch). Streamed: the
    passports' rows are not held, only the indexes set."""
    day = today()
    flagged: dict[str, set[int]] = {purpose: set() for purpose in status_list.PURPOSES}
    certs = {c.id: c for c in db.session.scalars(select(Certificate))}
    queries = [
        select(Passport.status_index, Passport.revoked_reason, Lot.certificate_id)
        .join(Lot, Lot.id == Passport.lot_id),
        select(Passport.status_index, Passport.revoked_reason, Lot.certificate_id)
        .join(ProductSource, ProductSource.product_id == Passport.product_id)
        .join(Lot, Lot.id == ProductSource.lot_id),
        select(Passport.status_index, Passport.revoked_reason, Certificate.id)  # the maker's own certificates
        .join(Product, Product.id == Passport.product_id)  # (the MSME Code of Practice …)
        .join(Certificate, Certificate.holder_id == Product.organisation_id),
        select(Passport.status_index, Passport.revoked_reason, None).where(Passport.revoked_reason != ""),
    ]
    ids = None if public_ids is None else sorted(public_ids)
    scopes = [None] if ids is None else [ids[at:at + SCOPE_CHUNK] for at in range(0, len(ids), SCOPE_CHUNK)]
    for scope in scopes:
        for query in queries:
            for index, revoked_reason, cert_id in db.session.execute(  # in chunks: the ORM would fetch all
                    (query if scope is None else query.where(Passport.public_id.in_(scope)))
                    .execution_options(yield_per=2000)):
                cert = certs.get(cert_id)
                state = cert.status_on(day) if cert else None
                if revoked_reason or state is CertificateStatus.revoked:
                    flagged["revocation"].add(index)
                elif state is CertificateStatus.suspended:
                    flagged["suspension"].add(index)
    return flagged


def latest_status_list(purpose: str) -> StatusListVersion | None:
    return db.session.scalar(select(StatusListVersion).where(StatusListVersion.purpose == purpose)
                             .order_by(StatusListVersion.number.desc()).limit(1))


def current_status_list(purpose: str) -> StatusListVersion | None:
    """The status list in force: the latest stored issue. Reading never signs nor scans the passports;
    ``issue_status_lists`` (the ``passports.status`` job, publishing, ``flask passports checkpoint``) writes."""
    return latest_status_list(purpose)


def issue_status_lists(flagged: dict[str, set[int]] | None = None) -> list[StatusListVersion]:
    """Issue a new version of each status list whose bits changed or whose issue is near its ``validUntil``
    (under half its validity left). Returns the new issues."""
    flagged = status_indexes() if flagged is None else flagged
    issued = [_issue_status_list(purpose, flagged[purpose]) for purpose in status_list.PURPOSES]
    return [found for found in issued if found is not None]


def _issue_status_list(purpose: str, indexes: set[int]) -> StatusListVersion | None:
    encoded = status_list.encode(indexes)
    now = utcnow().replace(microsecond=0)
    latest = latest_status_list(purpose)
    validity = dt.timedelta(seconds=int(current_app.config["STATUS_LIST_VALIDITY"]))
    if latest is not None and latest.encoded_list == encoded and as_utc(latest.valid_until) - validity / 2 > now:
        return None
    signer = get_signer()
    number = latest.number + 1 if latest is not None else 1
    url = f"{base_url()}/passports/status/{purpose}"
    until = now + validity
    credential = {
        "@context": [untp.VC_CONTEXT],
        "id": url,  # the URL the passports name; this issue also stays at f"{url}/versions/{number}"
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": signer.did,
        "validFrom": untp._date_time(now),
        "validUntil": untp._date_time(until),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": purpose,
                              "encodedList": encoded},
    }
    issued = StatusListVersion(purpose=purpose, number=number, encoded_list=encoded, valid_from=now,
                               valid_until=until, body=canonical_json(credential).decode(),
                               jwt=signer.sign(credential))
    try:
        with db.session.begin_nested():  # two workers may issue at once: the first one's issue stands
            db.session.add(issued)
    except IntegrityError:
        return None
    return issued
