"""Real worker processes (issue 20, and issue 15's second concurrent mail worker): e-mail enqueued while no
worker runs is sent once two ``flask worker`` processes start on the same PostgreSQL database, each
message exactly once; SIGTERM lets a worker finish and exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.jobs.models import Job, JobStatus
from marketplace.notifications import services as mail
from marketplace.notifications.models import MailStatus, OutgoingMail
from tests.conftest import ROOT, SMTP

MESSAGES = 30


def _worker(app: Flask, tmp_path: Path, name: str, **settings: str) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MEILISEARCH", "TEST_"))},
           "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": str(tmp_path / f"instance-{name}"),
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
           "IMAGE_STORAGE_PATH": str(tmp_path / "images"), "SEARCH_INDEX_PATH": str(tmp_path / "search"),
           "PASSPORT_SIGNING_KEY": app.config["PASSPORT_SIGNING_KEY"],
           "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(SMTP["port"]), **settings}
    flask = str(Path(sys.executable).parent / "flask")
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            [flask, "--app", "marketplace", "worker", "--interval", "0.2"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT)


def _wait(process: subprocess.Popen) -> int | None:
    """The exit code after SIGTERM (the current job finishes first); killed if it hangs: no worker outlives the test."""
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


def test_two_worker_processes_send_a_backlog_each_message_once(app: Flask, tmp_path: Path, mailbox: Any) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("several worker processes need PostgreSQL (SQLite: one worker)")
    with app.app_context():
        for n in range(MESSAGES):
            mail.enqueue("password_changed", to_address=f"backlog{n}@example.com", params={},
                         url="https://x.example/", locale="en")
        db.session.commit()  # enqueued while no worker runs
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "mail.deliver")) == 1
    workers = [_worker(app, tmp_path, name) for name in ("one", "two")]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(mailbox.messages) < MESSAGES:
            time.sleep(0.2)
        time.sleep(1.0)  # a duplicate would arrive now
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [_wait(process) for process in workers]
    logs = "".join((tmp_path / f"{name}.log").read_text() for name in ("one", "two"))
    assert codes == [0, 0], logs[-3000:]
    recipients = sorted(str(message["To"]) for message in mailbox.messages)
    assert recipients == sorted(f"backlog{n}@example.com" for n in range(MESSAGES))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutgoingMail)
                                 .where(OutgoingMail.status == MailStatus.sent)) == MESSAGES
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.dead)) == 0


def test_a_worker_killed_mid_job_loses_nothing_another_runs_the_job_after_the_lease(
        app: Flask, tmp_path: Path) -> None:
    """SIGKILL a real worker while it republishes a cooperative's passports; a second worker takes the job
    once the lease has run out and republishes them all."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("worker processes on one database: PostgreSQL")
    import datetime as dt

    from marketplace import models as m
    from marketplace.passports import services as passports
    from tests import factories

    coop = factories.CooperativeProfileFactory().organisation
    lot_ids = [factories.LotFactory(cooperative=coop).id for _ in range(40)]
    coop_id = coop.id
    with app.app_context():
        for lot_id in lot_ids:
            passports.publish(passports.passport_for(lot=db.session.get(m.Lot, lot_id)))
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(m.PassportVersion))
        from marketplace.funds import services as funds

        funds.record_payment(cooperative_id=coop_id, amount_minor=5000, currency="EUR",
                             paid_on=dt.date.today(), reference="KILL-1", advance=True, staff=None)  # noqa: DTZ011
        db.session.commit()
        job_id = db.session.scalar(select(Job.id).where(Job.kind == "passports.republish_ledger"))
    first = _worker(app, tmp_path, "killed", JOBS_LEASE_SECONDS="4")
    try:
        deadline = time.monotonic() + 60
        with app.app_context():
            while time.monotonic() < deadline:
                status = db.session.scalar(select(Job.status).where(Job.id == job_id))
                db.session.rollback()
                if status is JobStatus.running:
                    break
                time.sleep(0.05)
        assert status is JobStatus.running
    finally:
        first.kill()  # SIGKILL: no clean-up, the lease stays
        first.wait(30)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status is JobStatus.running  # claimed by a dead worker
        assert job.attempts == 1
    second = _worker(app, tmp_path, "second", JOBS_LEASE_SECONDS="4")
    try:
        deadline = time.monotonic() + 120
        with app.app_context():
            while time.monotonic() < deadline:
                status = db.session.scalar(select(Job.status).where(Job.id == job_id))
                db.session.rollback()
                if status is JobStatus.done:
                    break
                time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        _wait(second)
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job.status is JobStatus.done, (tmp_path / "second.log").read_text()[-2000:]
        assert job.attempts == 2  # the killed run counts
        assert db.session.scalar(select(func.count()).select_from(m.PassportVersion)) >= before + 40
