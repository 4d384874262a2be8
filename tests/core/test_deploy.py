"""deploy/ stays true (issue 20): the units run commands that exist, the environment template names only
settings the site reads, the nginx site keeps /metrics in and caches what the site says may be cached,
and the forwarded headers it sets are trusted only with PROXY_FIX_HOPS."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from marketplace import config as config_module
from marketplace.extensions import db
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
    # Static files: a year only for a fingerprinted URL (?v=), minutes for any other, no fixed expiry for both.
    static = re.search(r"location /static/ \{([^}]*)\}", site)
    assert static
    assert "add_header Cache-Control $static_cache_control always;" in static.group(1)
    assert "expires" not in static.group(1)
    cache_map = re.search(r"map \$arg_v \$static_cache_control \{([^}]*)\}", site)
    assert cache_map
    rules = dict(re.findall(r'^\s*(\S+)\s+"([^"]*)";', cache_map.group(1), re.M))
    assert rules == {'""': "public, max-age=300", "default": "public, max-age=31536000, immutable"}
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
    with behind_nginx.app_context():
        db.engine.dispose()  # a second app's pool: closed here, not by the garbage collector


def test_a_backup_restores_into_an_empty_database_and_storage(app: Flask, tmp_path: Path) -> None:
    """deploy/backup.sh then deploy/restore.sh against the run's PostgreSQL: the same rows and files."""
    import os
    import subprocess
    import sys
    import uuid

    import pytest
    from sqlalchemy import create_engine, func, select, text

    from marketplace import models as m
    from marketplace.products.images import get_store
    from tests import factories

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("postgresql"):
        pytest.skip("pg_dump and pg_restore: PostgreSQL")
    with app.app_context():
        factories.user_with_role(m.Role.brand_buyer, email="kept@backup.example")
        db.session.commit()
        get_store().write("originals/abc.jpg", b"original bytes")
        counts = {name: db.session.scalar(select(func.count()).select_from(table))
                  for name, table in (("users", m.User), ("organisations", m.Organisation))}
    server, _, _name = url.rpartition("/")
    restored_db = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    flask_bin = str(Path(sys.executable).parent / "flask")
    base = {**{k: v for k, v in os.environ.items() if not k.startswith(("MEILISEARCH", "TEST_"))},
            "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": str(tmp_path / "instance"), "FLASK": flask_bin,
            "SECRET_KEY": app.config["SECRET_KEY"], "SEARCH_INDEX_PATH": str(tmp_path / "search"),
            "PASSPORT_SIGNING_KEY": app.config["PASSPORT_SIGNING_KEY"]}
    backup = subprocess.run(  # noqa: S603 (our own script)
        [str(DEPLOY / "backup.sh"), str(tmp_path / "backups")], check=False, capture_output=True, text=True,
        timeout=300,
        env={**base, "DATABASE_URL": url, "IMAGE_STORAGE_PATH": app.config["IMAGE_STORAGE_PATH"]})
    assert backup.returncode == 0, backup.stderr
    folder = Path(backup.stdout.strip().splitlines()[-1])
    assert (folder / "database.dump").stat().st_size > 0
    assert (folder / "files" / "originals" / "abc.jpg").read_bytes() == b"original bytes"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{restored_db}"'))
    try:
        restored_url = f"{server}/{restored_db}"
        restore = subprocess.run(  # noqa: S603 (our own script)
            [str(DEPLOY / "restore.sh"), str(folder)], check=False, capture_output=True, text=True,
            timeout=300,
            env={**base, "DATABASE_URL": restored_url, "IMAGE_STORAGE_PATH": str(tmp_path / "restored-images")})
        assert restore.returncode == 0, restore.stderr
        assert (tmp_path / "restored-images" / "originals" / "abc.jpg").read_bytes() == b"original bytes"
        engine = create_engine(restored_url)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM user_account")) == counts["users"]
            assert connection.scalar(text("SELECT count(*) FROM organisation")) == counts["organisations"]
            assert connection.scalar(text("SELECT count(*) FROM user_account WHERE email = 'kept@backup.example'")) == 1
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_db}" WITH (FORCE)'))
        admin.dispose()
