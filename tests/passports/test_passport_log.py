"""The provable passport log: signed checkpoints, proofs, and ``flask passports verify`` catching each
tamper class on its own (changed entry, re-chained log, deleted tail, status rolled back, swapped key,
an unlogged status change, a forged checkpoint), each run against a fresh demo database."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy import text as sql

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.certification.services import change_status
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot
from marketplace.passports import log as merkle_log
from marketplace.passports import merkle
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport
from marketplace.passports.signing import Signer, get_signer
from tests.passports.test_passport_verify_since import _append_versions


def _verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["passports", "verify"])
    return result.exit_code, result.output


def _lot_certificate(app: Flask) -> tuple[str, str]:
    """(passport public id, certificate number) of a demo lot with a certificate."""
    with app.app_context():
        passport, number = db.session.execute(
            select(Passport.public_id, Certificate.number).join(Lot, Lot.id == Passport.lot_id)
            .join(Certificate, Certificate.id == Lot.certificate_id)
            .where(Certificate.status == CertificateStatus.active).order_by(Passport.id).limit(1)).one()
    return passport, number


def test_checkpoint_and_proofs_verify(demo_app: Flask) -> None:
    code, output = _verify(demo_app)
    assert code == 0, output
    assert "match every signed checkpoint" in output
    client = demo_app.test_client()
    document = client.get("/passports/log/checkpoint").get_json()
    with demo_app.app_context():
        assert get_signer().verify(document["jws"]) == document["checkpoint"]
        size = db.session.query(PassportLogLeaf).count()
        passport = db.session.scalar(select(Passport).order_by(Passport.id).limit(1))
        public_id, number = passport.public_id, passport.current.number
    checkpoint = document["checkpoint"]
    assert checkpoint["treeSize"] == size > 0
    assert checkpoint["origin"].endswith("/passports/log")
    proof = client.get(f"/passports/{public_id}/versions/{number}/inclusion").get_json()
    leaf = merkle.leaf_hash(proof["leafData"].encode())
    assert json.loads(proof["leafData"])["passport"] == public_id
    assert merkle.verify_inclusion(leaf, proof["leafIndex"], proof["treeSize"],
                                   [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(checkpoint["rootHash"]))
    consistency = client.get(f"/passports/log/consistency?first=3&second={size}").get_json()
    assert consistency["secondRoot"] == checkpoint["rootHash"]
    assert merkle.verify_consistency(3, size, bytes.fromhex(consistency["firstRoot"]),
                                     bytes.fromhex(checkpoint["rootHash"]),
                                     [bytes.fromhex(p) for p in consistency["proof"]])
    entries = client.get("/passports/log/entries").get_json()["entries"]
    assert len(entries) == size
    assert client.get("/passports/log").get_json()["merkle"]["checkpoint"].endswith("/passports/log/checkpoint")
    # Bad requests: a clear 4xx, never a 500.
    assert client.get(f"/passports/log/consistency?first=2&second={size + 1}").status_code == 400
    bad = client.get("/passports/log/consistency?first=x&second=2")
    assert bad.status_code == 400
    assert "first must be a tree size (a whole number)." in bad.get_data(as_text=True)
    assert f"The log has {size} entries" in client.get(
        "/passports/log/consistency?first=5&second=4").get_data(as_text=True)
    assert client.get(f"/passports/{public_id}/versions/999/inclusion").status_code == 404


def test_a_status_change_is_logged_and_checkpointed(demo_app: Flask) -> None:
    public_id, number = _lot_certificate(demo_app)
    with demo_app.app_context():
        before = merkle_log.latest_checkpoint().tree_size
        change_status(db.session.scalar(select(Certificate).where(Certificate.number == number)),
                      CertificateStatus.suspended, "Audit pending")
        db.session.commit()
        assert merkle_log.latest_checkpoint().tree_size == before  # the request only enqueued the job
        jobs.run_pending()
        leaves = merkle_log.leaves()
        assert merkle_log.latest_checkpoint().tree_size == len(leaves) > before
        logged = [json.loads(leaf.data) for leaf in leaves[before:]]
    assert {"kind": "status", "passport": public_id, "revoked": False, "suspended": True} .items() <= next(
        entry for entry in logged if entry["passport"] == public_id).items()
    assert _verify(demo_app)[0] == 0


def test_verify_names_a_changed_entry(demo_app: Flask) -> None:
    with demo_app.app_context():
        db.session.execute(sql("UPDATE passport_log_leaf SET data = replace(data, :a, :b) WHERE leaf_index = 2"),
                           {"a": '"contentHash":"', "b": '"contentHash":"0'})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert "Merkle log entry 2: its hash does not match its data (changed entry)" in output


def test_verify_names_a_rechained_log(demo_app: Flask) -> None:
    """The attacker rewrites an entry and recomputes its hash and the tree head: only the signed
    checkpoints still tell."""
    with demo_app.app_context():
        leaf = db.session.get(PassportLogLeaf, 2)
        data = leaf.data.replace('"contentHash":"', '"contentHash":"0')
        db.session.execute(sql("UPDATE passport_log_leaf SET data = :d, leaf_hash = :h WHERE leaf_index = 2"),
                           {"d": data, "h": merkle.leaf_hash(data.encode()).hex()})
        frontier = merkle.Frontier()
        for value in db.session.scalars(sql("SELECT leaf_hash FROM passport_log_leaf ORDER BY leaf_index")):
            frontier.append(bytes.fromhex(value))
        db.session.execute(sql("UPDATE passport_log_tree SET frontier = :f"), {"f": json.dumps(frontier.to_json())})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert "no longer hash to the signed root (the log was rewritten)" in output
    assert "its hash does not match its data" not in output


def test_verify_names_a_deleted_tail(demo_app: Flask) -> None:
    with demo_app.app_context():
        size = db.session.query(PassportLogLeaf).count()
        db.session.execute(sql("DELETE FROM passport_log_leaf WHERE leaf_index >= :n"), {"n": size - 2})
        frontier = merkle.Frontier()
        for value in db.session.scalars(sql("SELECT leaf_hash FROM passport_log_leaf ORDER BY leaf_index")):
            frontier.append(bytes.fromhex(value))
        db.session.execute(sql("UPDATE passport_log_tree SET size = :n, frontier = :f"),
                           {"n": size - 2, "f": json.dumps(frontier.to_json())})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert f"the log has only {size - 2} entries (its tail was deleted)" in output


def test_verify_names_a_status_rolled_back(demo_app: Flask) -> None:
    public_id, number = _lot_certificate(demo_app)
    with demo_app.app_context():
        change_status(db.session.scalar(select(Certificate).where(Certificate.number == number)),
                      CertificateStatus.revoked, "Fraud")
        db.session.commit()
        jobs.run_pending()
    assert _verify(demo_app)[0] == 0
    with demo_app.app_context():  # silently set back to active, behind the application's back
        db.session.execute(sql("UPDATE certificate SET status = 'active' WHERE number = :n"), {"n": number})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert f"passport {public_id}: the log records its revocation" in output
    assert "(status rolled back)" in output


def test_verify_names_an_unlogged_status_change(demo_app: Flask) -> None:
    public_id, number = _lot_certificate(demo_app)
    with demo_app.app_context():
        db.session.execute(sql("UPDATE certificate SET status = 'suspended' WHERE number = :n"), {"n": number})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert f"passport {public_id}: the status list shows suspended but the log last recorded active" in output
    # ``flask passports checkpoint`` logs it (and signs), after which verify passes again.
    result = demo_app.test_cli_runner().invoke(args=["passports", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert _verify(demo_app)[0] == 0


def test_verify_names_a_swapped_key(demo_app: Flask) -> None:
    with demo_app.app_context():
        real = get_signer()
        demo_app.extensions["passport_signer"] = Signer(OKPKey.generate_key("Ed25519", private=True), real.did)
        passport = db.session.scalar(select(Passport).order_by(Passport.id).limit(1))
        version = f"passport {passport.public_id} version {passport.current.number}"
    code, output = _verify(demo_app)
    assert code == 1
    assert "signature does not verify with the Union's key" in output  # every checkpoint
    assert f"{version}: the signature does not verify" in output  # every passport version


def test_verify_names_a_forged_checkpoint(demo_app: Flask) -> None:
    """A checkpoint row signed with another key, and one whose stored root differs from what was signed."""
    with demo_app.app_context():
        latest = merkle_log.latest_checkpoint()
        forger = Signer(OKPKey.generate_key("Ed25519", private=True), get_signer().did)
        payload = merkle_log.checkpoint_payload(latest.tree_size, b"\x11" * 32, latest.timestamp)
        db.session.execute(sql("INSERT INTO passport_checkpoint (tree_size, root_hash, timestamp, jws) "
                               "VALUES (:s, :r, :t, :j)"),
                           {"s": latest.tree_size, "r": "11" * 32, "t": latest.timestamp, "j": forger.sign(payload)})
        db.session.execute(sql("UPDATE passport_checkpoint SET root_hash = :r WHERE id = :i"),
                           {"r": "22" * 32, "i": latest.id})
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert "its signature does not verify with the Union's key" in output
    assert "its stored size or root differs from what was signed" in output


def test_a_log_deleted_whole_is_named_and_an_older_database_is_backfilled(demo_app: Flask) -> None:
    """The Merkle log and its checkpoints wiped (or a database from before the Merkle log): every version
    is named missing; ``flask passports checkpoint`` logs them all, and verify passes again."""
    with demo_app.app_context():
        versions = db.session.scalar(sql("SELECT COUNT(*) FROM passport_version"))
        for table in ("passport_checkpoint", "passport_log_leaf", "passport_log_node", "passport_log_tree"):
            db.session.execute(sql(f"DELETE FROM {table}"))
        db.session.commit()
    code, output = _verify(demo_app)
    assert code == 1
    assert output.count("missing from the Merkle log") == versions
    result = demo_app.test_cli_runner().invoke(args=["passports", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert f"{versions} earlier versions" in result.output
    assert _verify(demo_app)[0] == 0, _verify(demo_app)[1]


def test_a_log_rewritten_and_re_signed_is_caught_by_a_checkpoint_saved_before(demo_app: Flask, tmp_path: Path) -> None:
    """Re-chained log, the insider's version: someone holding the database and the Union's key erases a
    suspension from history, rebuilds the log and signs new checkpoints consistent only with themselves. The
    full verify has nothing left to compare; a checkpoint a monitor saved before names the rewrite."""
    _public_id, number = _lot_certificate(demo_app)
    with demo_app.app_context():
        change_status(db.session.scalar(select(Certificate).where(Certificate.number == number)),
                      CertificateStatus.suspended, "Audit pending")
        db.session.commit()
        jobs.run_pending()
    saved = tmp_path / "checkpoint"
    saved.write_text(demo_app.test_client().get("/passports/tlog/checkpoint").get_data(as_text=True), "utf-8")
    size = int(saved.read_text("utf-8").split("\n")[1])
    with demo_app.app_context():
        db.session.execute(sql("UPDATE certificate SET status = 'active' WHERE number = :n"), {"n": number})
        for table in ("passport_checkpoint", "passport_log_leaf", "passport_log_node", "passport_log_tree"):
            db.session.execute(sql(f"DELETE FROM {table}"))
        db.session.commit()
    assert demo_app.test_cli_runner().invoke(args=["passports", "checkpoint"]).exit_code == 0
    _append_versions(demo_app, 12)
    with demo_app.app_context():
        assert merkle_log.size() > size
    assert _verify(demo_app)[0] == 0  # consistent with itself
    result = demo_app.test_cli_runner().invoke(args=["passports", "verify", "--since", str(saved)])
    assert result.exit_code == 1
    assert f"is not consistent with the given one (size {size}): the log was rewritten" in result.output
