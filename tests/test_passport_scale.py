"""Passports at scale (issue 26): reads write nothing and do not scan every passport; changes touching many
passports run in the job worker, coalesced; the log pages and proves without reading every leaf."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.certification.services import change_status
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from marketplace.lots.models import Lot
from marketplace.passports import log as merkle_log
from marketplace.passports import services, subscribers
from marketplace.passports import status as status_list
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport, StatusListVersion

LOT = "USCC-2025-BKH-001"


def _lot_passport(app: Flask) -> tuple[int, int]:
    """(status index, certificate id) of the demo lot's passport."""
    with app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot, Lot.id == Passport.lot_id).where(Lot.code == LOT))
        return passport.status_index, passport.lot.certificate_id


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_reading_a_status_list_writes_nothing_and_the_job_reissues_it(demo_app: Flask) -> None:
    index, cert_id = _lot_passport(demo_app)
    client = demo_app.test_client()
    issues = _count(demo_app, StatusListVersion)
    first = client.get("/passports/status/suspension")
    assert first.status_code == 200
    with demo_app.app_context():
        change_status(db.session.get(Certificate, cert_id), CertificateStatus.suspended, "Audit finding.")
        db.session.commit()
    for _ in range(3):  # reads serve the stored issue: no signing, no new row
        again = client.get("/passports/status/suspension")
        assert again.get_data() == first.get_data()
    assert _count(demo_app, StatusListVersion) == issues
    with demo_app.app_context():
        assert jobs.run_pending().get("done", 0) >= 1
    listing = client.get("/passports/status/suspension").get_json()
    assert status_list.is_set(status_list.decode(listing["credentialSubject"]["encodedList"]), index)
    assert _count(demo_app, StatusListVersion) == issues + 1  # only the suspension list changed
    with demo_app.app_context():  # the job again, nothing changed: no new issue
        subscribers.refresh_status()
        db.session.commit()
    assert _count(demo_app, StatusListVersion) == issues + 1


def test_a_status_list_never_issued_is_404_not_signed_on_read(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/passports/status/revocation").status_code == 404
    assert client.get("/passports/status/nothing").status_code == 404
    assert _count(app, StatusListVersion) == 0


def test_a_certificate_status_change_enqueues_one_coalesced_job_and_logs_nothing_in_the_request(
        demo_app: Flask) -> None:
    _index, cert_id = _lot_passport(demo_app)
    leaves = _count(demo_app, PassportLogLeaf)
    with demo_app.app_context():
        cert = db.session.get(Certificate, cert_id)
        change_status(cert, CertificateStatus.suspended, "Audit finding.")
        change_status(cert, CertificateStatus.active, "Audit closed.")
        change_status(cert, CertificateStatus.suspended, "Audit reopened.")
        db.session.commit()
        pending = db.session.scalars(select(Job).where(Job.kind == subscribers.STATUS_JOB,
                                                       Job.status == JobStatus.pending)).all()
        assert len(pending) == 1
    assert _count(demo_app, PassportLogLeaf) == leaves
    with demo_app.app_context():
        jobs.run_pending()
        logged = [leaf for leaf in merkle_log.leaves() if leaf.index >= leaves]
        assert logged
        assert {leaf.kind for leaf in logged} == {"status"}
        assert merkle_log.latest_checkpoint().tree_size == leaves + len(logged)
        assert services.verify_all() == []
