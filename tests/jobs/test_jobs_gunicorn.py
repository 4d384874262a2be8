"""Issue 20's multi-process test on PostgreSQL: the site under gunicorn with two worker processes (one
master, one port, as deployed), Redis for the shared state, and a ``flask worker`` started late.

* a certificate suspension made through one web worker shows through the other on its next request, with
  no job worker running (the status is read, not republished) and although both workers had the page cached;
* the sign-in limit counts the attempts served by both workers together (Redis);
* the work enqueued while no job worker ran (the suspension's e-mail) is done once one starts.
Each response names the worker process that served it (tests/pid_wsgi.py wraps the real app)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.jobs.models import Job, JobStatus
from tests.conftest import ROOT, SMTP
from tests.core import test_shared_state
from tests.core.test_shared_state import SIGNIN_LIMIT, _free_port, _stop, _wait, redis_database

NUMBER = "SC-2025-BKH-001"  # the demo certificate behind lot USCC-2025-BKH-001
REASON = "Herd census above the adjustment plan (two web workers)."
PID = "X-Test-Worker-Pid"
redis_url = test_shared_state.redis_url  # the fixture: the run's Redis (./dev test), or a throwaway one


def _env(app: Flask, tmp_path: Path, **settings: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("MEILISEARCH", "TEST_"))},
            "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": str(tmp_path / "instance"),
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
            "IMAGE_STORAGE_PATH": str(tmp_path / "images"), "SEARCH_INDEX_PATH": str(tmp_path / "search"),
            "PASSPORT_SIGNING_KEY": app.config["PASSPORT_SIGNING_KEY"],
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(SMTP["port"]), **settings}


def _gunicorn(app: Flask, tmp_path: Path, redis: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = _env(app, tmp_path, REDIS_URL=redis, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    with (tmp_path / "web.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
            [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}",
             "tests.pid_wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True)
    try:
        _wait(port, process)
    except RuntimeError:
        _stop(process)
        raise RuntimeError((tmp_path / "web.log").read_text()[-3000:]) from None
    return process, f"http://127.0.0.1:{port}"


def _job_worker(app: Flask, tmp_path: Path) -> subprocess.Popen:
    flask = str(Path(sys.executable).parent / "flask")
    with (tmp_path / "worker.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            [flask, "--app", "marketplace", "worker", "--interval", "0.2"], cwd=ROOT, env=_env(app, tmp_path),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _until_both(get: Any, tries: int = 60) -> dict[str, requests.Response]:
    """Repeat a request until each of the two workers has answered it once: {pid: its response}."""
    seen: dict[str, requests.Response] = {}
    for _ in range(tries):
        response = get()
        seen.setdefault(response.headers[PID], response)
        if len(seen) == 2:
            return seen
    raise AssertionError(f"only worker(s) {sorted(seen)} answered {tries} requests")


def _waiting_jobs() -> dict[str, int]:
    rows = db.session.execute(select(Job.kind, func.count()).where(Job.status != JobStatus.done)
                              .group_by(Job.kind)).all()
    return {str(kind): int(count) for kind, count in rows}


def test_two_gunicorn_workers_share_status_and_sign_in_limits_and_a_late_worker_drains_the_jobs(
        demo_app: Flask, tmp_path: Path, redis_url: str, mailbox: Any) -> None:
    if not demo_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("several processes on one database need PostgreSQL (SQLite: one web process)")
    import redis

    redis_url = redis_database(redis_url, 2)  # its own: the sign-in test of test_shared_state counts in 1
    redis.Redis.from_url(redis_url).flushdb()
    with demo_app.app_context():
        passport = db.session.scalar(select(m.Passport).join(m.Lot).where(m.Lot.code == "USCC-2025-BKH-001"))
        page_path = f"/passports/{passport.public_id}"
        db.session.execute(Job.__table__.delete())  # the demo load's own jobs: this test counts only its own
        db.session.commit()
    web, base = _gunicorn(demo_app, tmp_path, redis_url)
    worker = None
    try:
        anonymous = requests.Session()
        before = _until_both(lambda: anonymous.get(base + page_path, timeout=30))  # both have the page now
        for response in before.values():
            assert response.status_code == 200
            assert "Valid." in response.text
        etag = next(iter(before.values())).headers["ETag"]

        certifier = requests.Session()
        signin = certifier.get(f"{base}/signin", timeout=30)
        certifier.post(f"{base}/signin", data={"email": "certifier@demo.example", "password": "demo-certifier-2026",
                                               "csrf_token": _token(signin.text)}, timeout=30)
        manage = certifier.get(f"{base}/certificates/{NUMBER}/manage", timeout=30)
        assert manage.status_code == 200, manage.text[:500]
        done = certifier.post(f"{base}/certificates/{NUMBER}/manage", allow_redirects=False, timeout=30, data={
            "status": "suspended", "reason": REASON, "csrf_token": _token(manage.text)})
        assert done.status_code == 302, done.text[:1000]
        suspended_by = done.headers[PID]

        # Every request from now on shows it, whichever worker answers; keep asking until the other one has.
        after = _until_both(lambda: anonymous.get(base + page_path, headers={"If-None-Match": etag}, timeout=30))
        other = next(pid for pid in after if pid != suspended_by)
        for response in after.values():
            assert response.status_code == 200  # not a 304 from a worker's stale page key
            assert "Suspended." in response.text
            assert REASON in response.text
        assert "Suspended." in after[other].text

        with demo_app.app_context():  # nothing ran the follow-up work: no job worker yet
            waiting = _waiting_jobs()
        assert waiting.get("mail.deliver") == 1, waiting  # the suspension's notice to the cooperative
        assert not mailbox.messages
        worker = _job_worker(demo_app, tmp_path)
        deadline = time.monotonic() + 90
        while "mail.deliver" in waiting and time.monotonic() < deadline:
            time.sleep(0.5)
            with demo_app.app_context():
                waiting = _waiting_jobs()
        assert "mail.deliver" not in waiting, (tmp_path / "worker.log").read_text()[-3000:]
        assert mailbox.messages  # the notice was sent once a worker ran
        with demo_app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.dead)) == 0

        # The sign-in limit: attempts answered by both workers are counted together in Redis.
        redis.Redis.from_url(redis_url).flushdb()
        stranger = requests.Session()
        answered_by = set()
        for _ in range(SIGNIN_LIMIT):
            page = stranger.get(f"{base}/signin", timeout=30)
            attempt = stranger.post(f"{base}/signin", allow_redirects=False, timeout=30, data={
                "email": "nobody@example.com", "password": "wrong-password-123", "csrf_token": _token(page.text)})
            assert attempt.status_code != 429
            answered_by.add(attempt.headers[PID])
        assert len(answered_by) == 2, answered_by  # both workers counted some of the ten
        page = stranger.get(f"{base}/signin", timeout=30)
        refused = _until_both(lambda: stranger.post(f"{base}/signin", allow_redirects=False, timeout=30, data={
            "email": "nobody@example.com", "password": "wrong-password-123", "csrf_token": _token(page.text)}))
        assert {response.status_code for response in refused.values()} == {429}  # whichever worker answers
    finally:
        _stop(web)
        if worker is not None:
            _stop(worker)
