"""``flask passports verify --since CHECKPOINT`` (issue 26, point 3): only what was appended since a trusted
checkpoint, plus the consistency proof from it; a forged checkpoint and each tamper since it are named."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy import text as sql

from marketplace.certification.models import Certificate, CertificateStatus
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.passports import log as merkle_log
from marketplace.passports import services
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport


def _since(app: Flask, checkpoint: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["passports", "verify", "--since", checkpoint])
    return result.exit_code, result.output


def _append_versions(app: Flask, count: int) -> None:
    with app.app_context():
        lots = db.session.scalars(select(Lot).where(Lot.id.in_(select(Passport.lot_id))).order_by(Lot.id)
                                  .limit(count)).all()
        for lot in lots:
            lot.herder_price_minor = (lot.herder_price_minor or 0) + 100_00
        services.publish_many(services.passport_for(lot=lot) for lot in lots)
        db.session.commit()


def test_verify_since_a_saved_checkpoint_checks_only_the_new_entries(demo_app: Flask, tmp_path: Path) -> None:
    note = demo_app.test_client().get("/passports/tlog/checkpoint").get_data(as_text=True)
    saved = tmp_path / "checkpoint"
    saved.write_text(note, encoding="utf-8")
    size = int(note.split("\n")[1])
    _append_versions(demo_app, 3)
    code, output = _since(demo_app, str(saved))
    assert code == 0, output
    assert f"the 3 entries appended since the checkpoint of size {size} verify" in output
    assert _since(demo_app, str(size))[0] == 0  # the stored checkpoint of that size, by its size
    # A changed entry after the checkpoint is named; one before it is the full verify's business.
    with demo_app.app_context():
        db.session.execute(sql("UPDATE passport_log_leaf SET data = data || ' ' WHERE leaf_index = :i"),
                           {"i": size + 1})
        db.session.commit()
    code, output = _since(demo_app, str(saved))
    assert code == 1
    assert f"Merkle log entry {size + 1}: its hash does not match its data (changed entry)" in output


def test_verify_since_names_a_changed_node_and_refuses_a_forged_checkpoint(demo_app: Flask, tmp_path: Path) -> None:
    note = demo_app.test_client().get("/passports/tlog/checkpoint").get_data(as_text=True)
    size = int(note.split("\n")[1])
    _append_versions(demo_app, 2)
    forged = tmp_path / "forged"
    forged.write_text(note.replace(f"\n{size}\n", f"\n{size - 1}\n", 1), encoding="utf-8")
    code, output = _since(demo_app, str(forged))
    assert code == 1
    assert "its signature does not verify with the Union's key" in output
    assert "is neither a checkpoint file nor a tree size" in _since(demo_app, str(tmp_path / "missing"))[1]
    assert "No stored checkpoint has 999999 entries." in _since(demo_app, "999999")[1]
    with demo_app.app_context():
        db.session.execute(sql("UPDATE passport_log_node SET hash = :h WHERE level = 0 AND node_index = :i"),
                           {"h": "cd" * 32, "i": size})
        db.session.commit()
    code, output = _since(demo_app, str(size))
    assert code == 1
    assert f"Merkle log node 0/{size}: does not match the entries" in output
    with demo_app.app_context():  # a node inside the trusted range: the proof from it no longer holds
        db.session.execute(sql("UPDATE passport_log_node SET hash = :h WHERE level = 0 AND node_index = :i"),
                           {"h": "ef" * 32, "i": size - 1})
        db.session.commit()
        assert merkle_log.size() > size
    code, output = _since(demo_app, str(size))
    assert code == 1
    assert "the log was rewritten" in output or "do not give the given checkpoint's root" in output


def test_verify_since_checks_the_status_of_the_passports_its_new_entries_name(demo_app: Flask) -> None:
    """The live status of each passport a new entry names is compared with the log (an unlogged suspension
    is named); passports no new entry names are left to the full verify (its time follows the new entries)."""
    note = demo_app.test_client().get("/passports/tlog/checkpoint").get_data(as_text=True)
    size = int(note.split("\n")[1])
    with demo_app.app_context():
        public_id, number, lot_id = db.session.execute(
            select(Passport.public_id, Certificate.number, Lot.id).join(Lot, Lot.id == Passport.lot_id)
            .join(Certificate, Certificate.id == Lot.certificate_id)
            .where(Certificate.status == CertificateStatus.active).order_by(Passport.id).limit(1)).one()
        lot = db.session.get(Lot, lot_id)
        lot.herder_price_minor = (lot.herder_price_minor or 0) + 100_00
        services.publish_many([services.passport_for(lot=lot)])
        db.session.commit()
        touched = set(db.session.scalars(select(PassportLogLeaf.passport_public_id)
                                         .where(PassportLogLeaf.index >= size)))
    assert touched == {public_id}
    assert _since(demo_app, str(size))[0] == 0
    with demo_app.app_context():  # suspended without the change being logged
        db.session.execute(sql("UPDATE certificate SET status = 'suspended' WHERE number = :n"), {"n": number})
        db.session.commit()
    code, output = _since(demo_app, str(size))
    assert code == 1
    assert f"passport {public_id}: the status list shows suspended but the log last recorded active" in output
    assert output.count("the status list shows suspended") == 1  # not the certificate's other passports …
    assert _verify_output(demo_app).count("the status list shows suspended") > 1  # … which the full verify names


def _verify_output(app: Flask) -> str:
    return app.test_cli_runner().invoke(args=["passports", "verify"]).output
