"""deploy/ stays true (issue 20): the units run commands that exist, the environment template names only
settings the site reads, the nginx site keeps /metrics in and caches what the site says may be cached,
and the forwarded headers it sets are trusted only with PROXY_FIX_HOPS."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from marketplace import config as config_module
from tests.conftest import ROOT, make_app

DEPLOY = ROOT / "deploy"
READ_OUTSIDE_CONFIG = {"MARKETPLACE_ENV", "PROMETHEUS_MULTIPROC_DIR"}


def _text(name: str) -> str:
    return (DEPLOY / name).read_text()


def test_the_units_run_the_web_app_and_the_job_worker_that_exist(app: Flask) -> None:
    web, worker = _text("systemd/marketplace-web.service"), _text("systemd/marketplace-worker@.service")
    assert '"marketplace:create_app()"' in web
    assert "EnvironmentFile=/etc/marketplace/marketplace.env" in web
    assert "EnvironmentFile=/etc/marketplace/marketplace.env" in worker
    assert re.search(r"ExecStart=\S+/flask --app marketplace worker$", worker, re.MULTILINE)
    commands = app.test_cli_runner()
    assert commands.invoke(args=["worker", "--help"]).exit_code == 0
    assert commands.invoke(args=["db", "upgrade", "--help"]).exit_code == 0
    port = re.search(r"--bind 127\.0\.0\.1:(\d+)", web)
    assert port
    assert f"server 127.0.0.1:{port.group(1)}" in _text("nginx/marketplace.conf")


def test_the_environment_template_names_only_settings_the_site_reads() -> None:
    names = {line.split("=", 1)[0] for line in _text("marketplace.env.example").splitlines()
             if line and not line.startswith("#")}
    read = set(config_module.ENV_VARS) | set(config_module.INT_ENV_VARS) | set(config_module.BOOL_ENV_VARS)
    assert names - read - READ_OUTSIDE_CONFIG == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MEILISEARCH_URL", "S3_BUCKET", "METRICS_TOKEN",
            "PROXY_FIX_HOPS", "MAIL_SERVER"} <= names


def test_the_nginx_site_terminates_tls_hides_metrics_and_caches_only_immutable_versions() -> None:
    site = _text("nginx/marketplace.conf")
    assert "listen 443 ssl" in site
    assert "return 301 https://" in site
    assert "location = /metrics { return 404; }" in site
    assert "alias /srv/marketplace/static/;" in site
    versions = re.search(r"location ~ (\S+) \{[^}]*immutable", site)
    assert versions
    pattern = re.compile(versions.group(1))
    assert pattern.match("/passports/abc123/versions/4")
    assert not pattern.match("/passports/abc123")  # the live passport is revalidated (ETag), never immutable
    assert re.search(r"location \^~ /passports/status/ \{[^}]*no-cache", site)
    proxy = _text("nginx/marketplace_proxy.conf")
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID"):
        assert f"proxy_set_header {header}" in proxy


def test_forwarded_headers_are_trusted_only_with_proxy_fix_hops(app: Flask, tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert app.test_client().get("/metrics", headers=forwarded).status_code == 200  # not trusted: loopback
    behind_nginx = make_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, PROXY_FIX_HOPS=1)
    assert behind_nginx.test_client().get("/metrics", headers=forwarded).status_code == 404  # the client's address
    assert behind_nginx.test_client().get("/metrics").status_code == 200  # a scrape on the machine itself
