"""A ledger entry and a certificate suspension for a cooperative with many passports: the staff requests'
times, and the worker's time to republish them (issue 20). Recording the entry only enqueues the republish
job, so the request does not grow with the passport count; a suspension republishes nothing (passports read
the status), and the very next passport request shows it.

Run: .venv/bin/python -m benchmarks.ledger_jobs [passports] [requests]   (defaults 1000 and 40; SQLite file)
``BENCH_MIGRATED_DATABASE=FILE`` starts from a copy of an empty, migrated SQLite database instead of migrating one
(the test suite's check that this benchmark runs passes its empty template).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.common import machine


def main() -> None:
    passports, requests = (int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                           int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    from marketplace import create_app
    from marketplace import models as m
    from marketplace.accounts.models import Role
    from marketplace.extensions import db
    from marketplace.jobs import services as jobs
    from marketplace.jobs.models import JobStatus
    from marketplace.passports import services as passports_services
    from tests import factories

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"ENV": "test", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
                          "IMAGE_STORAGE_PATH": f"{tmp}/images", "PASSPORT_SIGNING_KEY": f"{tmp}/key.jwk",
                          "SEARCH_INDEX_PATH": f"{tmp}/search", "MAIL_PORT": 9, "ACCESS_LOG": False,
                          "SIGNIN_RATE_LIMIT": "1000 per minute"})
        with app.app_context():
            _migrated(f"{tmp}/bench.sqlite3")
            factories.use_session(db.session)
            factories.user_with_role(Role.union_staff, email="staff@bench.example")
            coop = factories.CooperativeProfileFactory().organisation
            cert = _certificate_with_certifier(coop)
            started = time.perf_counter()
            for _ in range(passports):
                lot = factories.LotFactory(cooperative=coop, certificate=cert)
                passports_services.publish(passports_services.passport_for(lot=lot))
            db.session.commit()
            setup = time.perf_counter() - started
            versions_before = db.session.scalar(select(func.count()).select_from(m.PassportVersion))
            lot_passport, coop_id, cert_number = (
                f"/passports/{passports_services.passport_for(lot=lot).public_id}", coop.id, cert.number)
        client = app.test_client()
        page = client.get("/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/signin", data={"email": "staff@bench.example", "password": factories.PASSWORD,
                                     "csrf_token": token})
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',  # type: ignore[union-attr]
                          client.get("/union/season").get_data(as_text=True)).group(1)
        times = []
        for number in range(requests):
            began = time.perf_counter()
            response = client.post("/union/premiums", data={
                "csrf_token": token, "cooperative_id": str(coop_id), "amount": "10.00", "currency": "EUR",
                "paid_on": dt.date.today().isoformat(), "reference": f"BENCH-{number}", "advance": "y"})  # noqa: DTZ011
            times.append(time.perf_counter() - began)
            assert response.status_code in (302, 303), response.status_code
        with app.app_context():
            pending = db.session.scalar(select(func.count()).select_from(m.Job).where(
                m.Job.kind == "passports.republish_ledger", m.Job.status == JobStatus.pending))
            began = time.perf_counter()
            outcome = jobs.run_pending(limit=10_000)
            worker = time.perf_counter() - began
            republished = db.session.scalar(select(func.count()).select_from(m.PassportVersion)) - versions_before
        suspensions, shown = _suspensions(app, cert_number, lot_passport, requests)
    times.sort()
    print(f"# Ledger entry with {passports} passports, {dt.datetime.now(dt.UTC).date().isoformat()}")
    print(f"machine: {machine()}; database: SQLite (a file in a temp dir); Flask test client, one process")
    print(f"setup: {passports} lots published in {setup:.1f} s")
    print(f"request (record a premium payment, {requests} times): median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {times[max(int(len(times) * 0.95) - 1, 0)] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms "
          "(target p95 <= 200 ms)")
    print(f"republish jobs pending after the requests: {pending} (coalesced by cooperative)")
    print(f"worker: {outcome} in {worker:.1f} s; {republished} new passport versions")
    _report_suspensions(sorted(suspensions), shown)


def _migrated(path: str) -> None:
    """The benchmark's database, migrated (inside the app's context)."""
    from flask_migrate import upgrade

    if os.environ.get("BENCH_MIGRATED_DATABASE"):
        shutil.copyfile(os.environ["BENCH_MIGRATED_DATABASE"], path)
    else:
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))


def _certificate_with_certifier(coop):  # type: ignore[no-untyped-def]
    """The certificate every benchmark lot carries, and a certifier of its issuer who may suspend it."""
    from marketplace.accounts.models import Role
    from tests import factories

    cert = factories.CertificateFactory(holder=coop)
    factories.user_with_role(Role.certifier, organisation=cert.issuer, email="certifier@bench.example")
    return cert


def _report_suspensions(times: list[float], shown: int) -> None:
    print(f"request (suspend / reinstate the cooperative's certificate, {len(times)} times): median "
          f"{statistics.median(times) * 1000:.1f} ms, p95 {times[max(int(len(times) * 0.95) - 1, 0)] * 1000:.1f} ms, "
          f"max {times[-1] * 1000:.1f} ms (target p95 <= 200 ms)")
    print(f"the very next passport request showed the new status: {shown}/{len(times)}")


def _suspensions(app, number: str, passport: str, requests: int) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    """The certifier suspends and reinstates the certificate behind every passport, ``requests`` times; after
    each change one passport request (another client) must show it."""
    from tests.factories import PASSWORD

    certifier, reader = app.test_client(), app.test_client()
    page = certifier.get("/signin").get_data(as_text=True)
    certifier.post("/signin", data={"email": "certifier@bench.example", "password": PASSWORD,
                                    "csrf_token": re.search(CSRF_FIELD, page).group(1)})  # type: ignore[union-attr]
    path = f"/certificates/{number}/manage"
    token = re.search(CSRF_FIELD, certifier.get(path).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    times, shown = [], 0
    for n in range(requests):
        status = "suspended" if n % 2 == 0 else "active"
        began = time.perf_counter()
        response = certifier.post(path, data={"csrf_token": token, "status": status,
                                              "reason": f"Benchmark change number {n} of the certificate."})
        times.append(time.perf_counter() - began)
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
        text = reader.get(passport).get_data(as_text=True)
        shown += ("Suspended." in text) == (status == "suspended")
    return times, shown


CSRF_FIELD = r'name="csrf_token" type="hidden" value="([^"]+)"'


if __name__ == "__main__":
    main()
