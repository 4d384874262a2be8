"""Passports at scale (issue 26): reads write nothing and do not scan every passport; changes touching many
passports run in the job worker, coalesced; the log pages and proves without reading every leaf."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy import text as sql

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.certification.services import change_status
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.jobs.models import Job, JobStatus
from marketplace.lots.models import Lot
from marketplace.organisations import services as org_services
from marketplace.organisations.models import Organisation
from marketplace.passports import log as merkle_log
from marketplace.passports import merkle, services, subscribers
from marketplace.passports import status as status_list
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport, PassportVersion, StatusListVersion

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


def test_log_entries_come_in_pages_and_proofs_read_stored_nodes_not_leaves(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        size = merkle_log.size()
        hashes = [bytes.fromhex(leaf.leaf_hash) for leaf in merkle_log.leaves()]
    assert size > 10
    first = client.get("/passports/log/entries?limit=4")
    page = first.get_json()
    assert [entry["index"] for entry in page["entries"]] == [0, 1, 2, 3]
    assert page["treeSize"] == size
    assert "immutable" in first.headers["Cache-Control"]  # a full page never changes
    following = client.get(page["next"].replace("http://localhost", "")).get_json()
    assert [entry["index"] for entry in following["entries"]] == [4, 5, 6, 7]
    tail = client.get(f"/passports/log/entries?start={size - 2}&limit=4")
    assert [entry["index"] for entry in tail.get_json()["entries"]] == [size - 2, size - 1]
    assert tail.get_json()["next"] is None
    assert tail.headers["Cache-Control"] == "no-cache"
    for bad in ("limit=0", "limit=1001", "start=-1", "start=x"):
        response = client.get(f"/passports/log/entries?{bad}")
        assert response.status_code == 400, bad
    # Proofs come from the stored subtree hashes and equal those computed over every leaf.
    with demo_app.app_context():
        for first_size in (1, 3, 8, size - 1):
            proof = merkle_log.consistency(first_size, size)
            assert proof["proof"] == [p.hex() for p in merkle.consistency_proof(hashes, first_size)]
            assert proof["firstRoot"] == merkle.root(hashes[:first_size]).hex()
        version = db.session.scalar(select(PassportVersion).order_by(PassportVersion.id.desc()).limit(1))
        found = merkle_log.inclusion(version)
        assert found["proof"] == [p.hex() for p in merkle.inclusion_proof(hashes[:found["treeSize"]],
                                                                           found["leafIndex"])]


def test_verify_names_a_changed_stored_node(demo_app: Flask) -> None:
    with demo_app.app_context():
        assert merkle_log.verify_log(services.status_indexes()) == []
        db.session.execute(sql("UPDATE passport_log_node SET hash = :h WHERE level = 2 AND node_index = 1"),
                           {"h": "e" * 64})
        db.session.commit()
        assert merkle_log.verify_log(services.status_indexes()) == [
            "Merkle log node 2/1: does not match the entries (a stored subtree hash was changed)"]
        db.session.execute(sql("DELETE FROM passport_log_node WHERE level = 0 AND node_index = 5"))
        db.session.commit()
        assert "Merkle log node 0/5: missing" in merkle_log.verify_log(services.status_indexes())


def test_the_migration_computes_the_same_nodes_as_the_log() -> None:
    spec = importlib.util.spec_from_file_location(
        "migration_0016_h26", Path(__file__).parent.parent.parent / "migrations/versions/0016_h26_log_nodes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(77)]
    frontier = merkle.Frontier()
    expected = [node for leaf in leaves for node in frontier.append(leaf)]
    assert list(module._nodes(leaves)) == expected


def test_an_organisation_change_republishes_its_passports_in_one_job_and_unchanged_ones_stay(
        demo_app: Flask) -> None:
    with demo_app.app_context():
        passport = db.session.scalar(select(Passport).join(Lot, Lot.id == Passport.lot_id).where(Lot.code == LOT))
        cooperative = db.session.get(Organisation, passport.lot.cooperative_id)
        before, passport_id, cooperative_id = passport.current.number, passport.id, cooperative.id
        versions = _count(demo_app, PassportVersion)
        assert org_services.change_registration_number(cooperative, "7654321", by_staff=True)
        assert org_services.change_registration_number(cooperative, "7654322", by_staff=True)
        db.session.commit()
        pending = db.session.scalars(select(Job).where(Job.kind == subscribers.ORGANISATION_JOB,
                                                       Job.status == JobStatus.pending)).all()
        assert len(pending) == 1  # coalesced
    assert _count(demo_app, PassportVersion) == versions  # nothing published in the request
    with demo_app.app_context():
        jobs.run_pending()
        passport = db.session.get(Passport, passport_id)
        assert passport.current.number == before + 1
        assert "7654322" in json.dumps(passport.current.credential)
        published = _count(demo_app, PassportVersion)
        assert published > versions
        subscribers.republish_organisation_passports(cooperative_id)  # again: nothing changed, nothing new
        db.session.commit()
    assert _count(demo_app, PassportVersion) == published
    with demo_app.app_context():
        assert merkle_log.verify_log(services.status_indexes()) == []


def test_a_version_url_is_cacheable_forever_and_the_current_page_revalidates(demo_app: Flask) -> None:
    client = demo_app.test_client()
    with demo_app.app_context():
        public_id = db.session.scalar(select(Passport.public_id).join(Lot, Lot.id == Passport.lot_id)
                                      .where(Lot.code == LOT))
    version = client.get(f"/passports/{public_id}/versions/1")
    assert version.status_code == 200
    assert version.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    page = client.get(f"/passports/{public_id}")
    assert page.headers["Cache-Control"] == "public, no-cache"  # a suspension shows on the next request
    assert client.get(f"/passports/{public_id}", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
