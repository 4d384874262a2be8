"""Observability (issue 20): /metrics in Prometheus text (loopback or METRICS_TOKEN only), request ids in
responses and log lines, JSON logs, and /healthz with the job queue and the storage reported separately."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.observability import JsonFormatter
from tests.conftest import make_app

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def _families(body: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(body)}


def test_metrics_report_requests_jobs_search_and_mail_in_prometheus_text(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/about").status_code in (200, 404)
    with app.app_context():
        jobs.enqueue("test.nobody_runs_this")
        jobs.enqueue("mail.deliver", run_at=utcnow() - dt.timedelta(minutes=3))
        db.session.commit()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = _families(response.get_data(as_text=True))
    requests = [s for s in found["marketplace_http_requests"] if s.labels.get("endpoint") == "pages.about"]
    assert requests
    assert requests[0].labels["method"] == "GET"
    assert any(s.labels.get("endpoint") == "pages.about" for s in found["marketplace_http_request_duration_seconds"])
    depth = {(s.labels["status"], s.labels["kind"]): s.value for s in found["marketplace_jobs"]}
    assert depth[("pending", "test.nobody_runs_this")] == 1
    assert found["marketplace_jobs_oldest_due_seconds"][0].value >= 170
    assert "marketplace_search_outbox_backlog" in found
    assert "marketplace_search_outbox_age_seconds" in found
    assert {s.labels["status"] for s in found["marketplace_mail_messages"]} >= {"pending", "failed"}


def test_metrics_are_refused_from_outside_and_need_the_token_when_one_is_set(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    app.config["METRICS_TOKEN"] = "scrape-token-123"
    assert client.get("/metrics").status_code == 404  # loopback is not enough once a token is set
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    allowed = client.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer scrape-token-123"})
    assert allowed.status_code == 200


def test_each_response_carries_a_request_id_that_is_in_its_log_line(app: Flask,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="marketplace.access"):
        given = client.get("/about", headers={"X-Request-ID": "proxy-id-12345678"})
        made = client.get("/about", headers={"X-Request-ID": "bad id; with spaces"})
    assert given.headers["X-Request-ID"] == "proxy-id-12345678"
    assert made.headers["X-Request-ID"] != "bad id; with spaces"
    assert len(made.headers["X-Request-ID"]) == 32
    lines = [r for r in caplog.records if r.name == "marketplace.access"]
    assert [r.request_id for r in lines] == ["proxy-id-12345678", made.headers["X-Request-ID"]]
    assert lines[0].path == "/about"
    assert lines[0].status == given.status_code
    entry = json.loads(JsonFormatter().format(lines[0]))
    assert entry["request_id"] == "proxy-id-12345678"
    assert entry["path"] == "/about"
    assert entry["level"] == "INFO"
    assert entry["time"].endswith("Z")


def test_healthz_reports_the_job_queue_and_says_degraded_when_no_worker_runs(app: Flask) -> None:
    found = app.test_client().get("/healthz").get_json()
    assert found["jobs"]["status"] == "ok"
    assert found["storage"] == {"adapter": "local", "status": "ok"}
    with app.app_context():
        jobs.enqueue("mail.deliver", run_at=utcnow() - dt.timedelta(hours=1))
        db.session.commit()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200  # pages still work: degraded, not down
    found = response.get_json()
    assert found["status"] == "degraded"
    assert found["jobs"]["status"] == "stalled"
    assert found["jobs"]["pending"] == 1
    assert found["jobs"]["oldest_due_seconds"] >= 3500


def test_healthz_is_503_naming_the_storage_when_the_image_folder_cannot_be_written(app: Flask,
                                                                                   tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    broken = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, IMAGE_STORAGE_PATH=str(blocker / "images"))
    response = broken.test_client().get("/healthz")
    with broken.app_context():
        db.engine.dispose()  # a second app's pool: closed here, not by the garbage collector
    assert response.status_code == 503
    found = response.get_json()
    assert found["status"] == "error"
    assert found["database"] == "ok"
    assert found["storage"]["status"] == "error"
    assert "IMAGE_STORAGE_PATH" in found["storage"]["action"]


def test_a_method_the_site_does_not_know_is_counted_as_other_not_as_a_new_series(app: Flask) -> None:
    client = app.test_client()
    for n in range(3):
        assert client.open("/about", method=f"INVENTED{n}").status_code == 405
    found = _families(client.get("/metrics").get_data(as_text=True))
    methods = {s.labels["method"] for s in found["marketplace_http_requests"]}
    assert not [m for m in methods if m.startswith("INVENTED")]
    assert "other" in methods
    assert {s.labels["method"] for s in found["marketplace_http_request_duration_seconds"]} >= {"GET", "other"}
