import os
import subprocess
import sys
from pathlib import Path

import pytest

from marketplace import create_app
from marketplace.config import ConfigError, load, normalise_database_url, secret_is_strong

ROOT = Path(__file__).resolve().parent.parent.parent
STRONG_SECRET = "f3Q9v-Lr0tXw2bYk8NsZp1MjHc6DaE4u"  # 32 characters, 32 distinct
ORG_KEYS = "GbKLqLf8nOZ0b2Y6XbqQ5FJz0TgWmXhBvN1e9yK3sAc="  # a Fernet key (32 url-safe base64 bytes)


def _production_env(monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> None:
    """A production environment that starts; ``overrides`` change (or, with None, remove) one variable."""
    values: dict[str, str | None] = {
        "SECRET_KEY": STRONG_SECRET, "DATABASE_URL": "postgres://user:pw@db.internal/marketplace",
        "PUBLIC_BASE_URL": "https://market.example.org", "STRIPE_API_BASE": None, "STRIPE_SECRET_KEY": None,
        "STRIPE_WEBHOOK_SECRET": None, "ORG_KEYS_SECRET": ORG_KEYS, **overrides,
    }
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_a_complete_production_environment_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch, STRIPE_SECRET_KEY="sk_live_abc", STRIPE_WEBHOOK_SECRET="whsec_abc")
    config = load("production")
    assert config["PUBLIC_BASE_URL"] == "https://market.example.org"
    assert config["ORG_KEYS_SECRET"] == ORG_KEYS
    assert config["TRUSTED_HOSTS"] == ["market.example.org"]


@pytest.mark.parametrize(("overrides", "named"), [
    ({"SECRET_KEY": "a" * 32}, "SECRET_KEY"),
    ({"SECRET_KEY": "x" * 64}, "SECRET_KEY"),
    ({"SECRET_KEY": "ab" * 20}, "SECRET_KEY"),
    ({"SECRET_KEY": "0123456789abcdef" * 2}, "SECRET_KEY"),  # 16 distinct, 128 bits, but one block twice
    ({"SECRET_KEY": "0000000000000000000000000000000000000001"}, "SECRET_KEY"),
    ({"SECRET_KEY": "a" * 40 + "bcdefghijk"}, "SECRET_KEY"),  # 11 distinct characters, 33 bits
    ({"SECRET_KEY": "gfedcbaabcdefgbadcfeggfedcbaabcdefgcbafedg"}, "SECRET_KEY"),  # 7 distinct, 118 bits
    ({"SECRET_KEY": STRONG_SECRET[:31]}, "SECRET_KEY"),
    ({"DATABASE_URL": "sqlite:////srv/marketplace.sqlite3"}, "SQLite"),
    ({"STRIPE_API_BASE": "http://127.0.0.1:8420"}, "STRIPE_API_BASE"),
    ({"STRIPE_SECRET_KEY": "sk_live_abc"}, "STRIPE_WEBHOOK_SECRET"),
    ({"PUBLIC_BASE_URL": None}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "http://market.example.org"}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "https://market.example.org/shop"}, "PUBLIC_BASE_URL"),
    ({"PUBLIC_BASE_URL": "https://"}, "PUBLIC_BASE_URL"),
    # The issuers' signing keys are encrypted with it: without a valid one nothing could sign (issue 19).
    ({"ORG_KEYS_SECRET": None}, "ORG_KEYS_SECRET"),
    ({"ORG_KEYS_SECRET": ""}, "ORG_KEYS_SECRET"),
    ({"ORG_KEYS_SECRET": "not-a-fernet-key"}, "ORG_KEYS_SECRET"),
    ({"ORG_KEYS_SECRET": ORG_KEYS + ","}, "ORG_KEYS_SECRET"),
    ({"ORG_KEYS_SECRET": ORG_KEYS[:-2]}, "ORG_KEYS_SECRET"),
])
def test_production_refuses_each_unsafe_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], named: str
) -> None:
    _production_env(monkeypatch, **overrides)
    with pytest.raises(ConfigError) as refused:
        load("production")
    message = str(refused.value)
    assert named in message
    assert message.startswith("Refusing to start in production: ")
    assert "\n" not in message


@pytest.mark.parametrize("secret", [
    STRONG_SECRET, "9c1f0b4e8a7d2c6b5e3f1a0d9c8b7a6e",  # 32 hex digits, the shortest random key accepted
    "correct horse battery staple, then some",
])
def test_random_and_long_secrets_are_strong(secret: str) -> None:
    assert secret_is_strong(secret)


def test_trusted_hosts_add_loopback_outside_production() -> None:
    assert load("test", {"PUBLIC_BASE_URL": "https://market.example.org"})["TRUSTED_HOSTS"] == [
        "market.example.org", "127.0.0.1", "localhost"]


def test_production_refuses_without_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/marketplace")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load("production")


@pytest.mark.parametrize("secret", ["dev", "changeme", "short-but-not-weak"])
def test_production_refuses_weak_secret_key(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.internal/marketplace")
    with pytest.raises(ConfigError):
        load("production")


def test_production_refusal_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env.update(MARKETPLACE_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite3",
               MARKETPLACE_INSTANCE=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "marketplace", "routes"], env=env, capture_output=True, text=True,
        cwd=ROOT, check=False, timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SECRET_KEY" in lines[0]


def test_production_profile_uses_secure_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    _production_env(monkeypatch)
    config = load("production")
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert config["DEMO_BANNER"] is False


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEILISEARCH_URL", "http://127.0.0.1:7700")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:8420")
    monkeypatch.setenv("IMAGE_STORAGE_PATH", str(tmp_path / "img"))
    monkeypatch.setenv("PASSPORT_SIGNING_KEY", str(tmp_path / "key.jwk"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/a.sqlite3")
    config = load("dev")
    assert config["MEILISEARCH_URL"] == "http://127.0.0.1:7700"
    assert config["STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert config["IMAGE_STORAGE_PATH"] == str(tmp_path / "img")
    assert config["PASSPORT_SIGNING_KEY"] == str(tmp_path / "key.jwk")
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/a.sqlite3"


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("false", False), ("Off", False), ("yes", True)])
def test_switches_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    assert load("dev")["SEARCH_APPLY_AFTER_COMMIT"] is True
    monkeypatch.setenv("SEARCH_APPLY_AFTER_COMMIT", value)
    assert load("dev")["SEARCH_APPLY_AFTER_COMMIT"] is expected


def test_a_switch_with_a_bad_value_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_APPLY_AFTER_COMMIT", "sometimes")
    with pytest.raises(ConfigError, match="SEARCH_APPLY_AFTER_COMMIT must be one of"):
        load("dev")


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="MARKETPLACE_ENV"):
        load("staging")


def test_database_url_normalisation() -> None:
    assert normalise_database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_test_profile_does_not_read_production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_should_not_be_used")
    app = create_app({"ENV": "test"})
    assert app.config["STRIPE_SECRET_KEY"] is None
    assert app.config["TESTING"] is True


def test_web_processes_leave_the_meilisearch_outbox_to_the_worker_unless_told_otherwise() -> None:
    assert load("dev", {"MEILISEARCH_URL": None})["SEARCH_APPLY_AFTER_COMMIT"] is True
    assert load("dev", {"MEILISEARCH_URL": "http://127.0.0.1:7700"})["SEARCH_APPLY_AFTER_COMMIT"] is False
    assert load("dev", {"MEILISEARCH_URL": "http://127.0.0.1:7700",
                        "SEARCH_APPLY_AFTER_COMMIT": True})["SEARCH_APPLY_AFTER_COMMIT"] is True


def test_operators_can_add_trusted_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_HOSTS", "10.0.0.5, healthcheck.internal")
    hosts = load("dev", {"PUBLIC_BASE_URL": "https://market.example.org"})["TRUSTED_HOSTS"]
    assert {"market.example.org", "10.0.0.5", "healthcheck.internal"} <= set(hosts)


def test_the_smtp_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (load("dev")["MAIL_SERVER"], load("dev")["MAIL_PORT"]) == ("127.0.0.1", 8025)
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAIL_PORT", "587")
    monkeypatch.setenv("MAIL_USE_TLS", "1")
    monkeypatch.setenv("MAIL_USERNAME", "site")
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", "Union <mail@example.org>")
    config = load("dev")
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == ("smtp.example.org", 587, True)
    assert (config["MAIL_USERNAME"], config["MAIL_DEFAULT_SENDER"]) == ("site", "Union <mail@example.org>")
    assert config["MAIL_BACKEND"] == "smtp"  # never a fake backend


@pytest.mark.parametrize(("env", "message"), [
    ({"MAIL_PORT": "submission"}, "MAIL_PORT must be a whole number"),
    ({"MAIL_USE_TLS": "1", "MAIL_USE_SSL": "1"}, "not both"),
])
def test_bad_smtp_settings_are_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load("dev")


def test_remember_me_is_bounded() -> None:
    import datetime as dt

    assert load("dev")["REMEMBER_COOKIE_DURATION"] == dt.timedelta(days=30)
