"""Configuration profiles, read from the environment.

Profiles: ``dev`` (default), ``test`` and ``production``, chosen by
``MARKETPLACE_ENV``. Every setting can be overridden by an environment
variable of the same name; tests pass a mapping to ``create_app``.
"""

from __future__ import annotations

import base64
import math
import os
import secrets
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("MARKETPLACE_INSTANCE", ROOT / "instance"))

# Variables read from the environment (documented in README.md).
ENV_VARS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "MEILISEARCH_URL",
    "MEILISEARCH_API_KEY",
    "MEILISEARCH_SEARCH_KEY",
    "MEILISEARCH_INDEX_PREFIX",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_PUBLISHABLE_KEY",
    "IMAGE_STORAGE_PATH",
    "PASSPORT_SIGNING_KEY",
    "ORG_KEYS_SECRET",
    "RATELIMIT_STORAGE_URI",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_PREFIX",
    "IMAGE_CACHE_PATH",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "SHARED_DIR",
    "PUBLIC_BASE_URL",
    "SEARCH_INDEX_PATH",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)
# Whole numbers read from the environment.
INT_ENV_VARS = ("MAIL_PORT", "PROXY_FIX_HOPS", "JOBS_MAX_ATTEMPTS", "JOBS_LEASE_SECONDS", "JOBS_STALE_SECONDS")

# Switches read from the environment as 1/0, true/false, yes/no or on/off.
BOOL_ENV_VARS = (
    "SEARCH_APPLY_AFTER_COMMIT",  # web processes apply the search outbox after their commits
    "MAIL_USE_TLS",  # STARTTLS on the SMTP connection
    "MAIL_USE_SSL",  # SMTP over TLS from the first byte (port 465)
)

KNOWN_WEAK_SECRETS = {"", "dev", "secret", "changeme", "change-me", "test"}
# A production SECRET_KEY: at least this long, with at least this many distinct characters and this
# much Shannon entropy over its characters (secrets.token_hex(16) scores 90+ bits; 32×"a" scores 0).
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 8
SECRET_MIN_BITS = 80
# Hosts always accepted in the Host header outside production (the dev server, tests, live test servers).
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class ConfigError(RuntimeError):
    """Raised when the configuration is unusable; the message is one line."""


def _bool(name: str, value: str) -> bool:
    folded = value.strip().lower()
    if folded in ("1", "true", "yes", "on"):
        return True
    if folded in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off, not {value!r}.")


def _base() -> dict[str, Any]:
    return {
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "marketplace" / "translations"),
        "LOCALES": ["en", "mn", "fr", "de", "it", "zh"],
        "RATELIMIT_STORAGE_URI": "memory://",  # REDIS_URL, when set, replaces it: limits shared by every process
        "REDIS_URL": None,
        # Object storage for images and documents (marketplace/storage.py): S3-compatible when S3_BUCKET is set.
        "S3_BUCKET": None,
        "S3_ENDPOINT_URL": None,  # e.g. a MinIO or Ceph server; empty for AWS
        "S3_REGION": None,
        "S3_ACCESS_KEY_ID": None,
        "S3_SECRET_ACCESS_KEY": None,
        "S3_PREFIX": "",
        "IMAGE_CACHE_PATH": None,  # each machine's read-through copy of served files (default instance/image-cache)
        # Observability (marketplace/observability.py)
        "LOG_FORMAT": "text",  # "json": one JSON object per line with the request id (production default)
        "METRICS_TOKEN": None,
        # Proxies in front that set X-Forwarded-For/-Proto/-Host (nginx in deploy/: 1). 0 trusts none.
        "PROXY_FIX_HOPS": 0,  # /metrics wants "Authorization: Bearer <token>"; unset: loopback clients only
        "RATELIMIT_HEADERS_ENABLED": True,
        "SIGNIN_RATE_LIMIT": "10 per minute",
        "CONTENT_DIR": str(ROOT / "content"),
        "SHARED_DIR": str(ROOT.parent / "shared"),
        "MEILISEARCH_URL": None,
        "MEILISEARCH_API_KEY": None,  # the indexing key (writes); the master key only for `search keys`
        "MEILISEARCH_SEARCH_KEY": None,  # a search-only key for searches (defaults to MEILISEARCH_API_KEY)
        "MEILISEARCH_INDEX_PREFIX": "",  # lets several sites share one server
        "SEARCH_INDEX_PATH": str(INSTANCE / "search"),  # embedded engine's index files
        "SEARCH_APPLY_AFTER_COMMIT": None,  # None: yes with the embedded engine, no with Meilisearch
        "STRIPE_SECRET_KEY": None,
        "STRIPE_WEBHOOK_SECRET": None,
        "STRIPE_API_BASE": None,
        "STRIPE_PUBLISHABLE_KEY": None,  # with Stripe itself: the buyer types the card into Stripe.js
        "DEMO_BANNER": True,
        # Fernet key(s), comma-separated, that encrypt the organisations' signing keys at rest (the first
        # encrypts, all decrypt). Outside production a file beside PASSPORT_SIGNING_KEY is made on first use.
        "ORG_KEYS_SECRET": None,
        # How long a signed status list credential is valid (seconds): verifiers fetch a fresh one after.
        "STATUS_LIST_VALIDITY": 600,
        # The public origin, used in passport URLs, QR codes and the issuer's did:web.
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        # Reference rates for showing MNT beside EUR and USD (declared by the Union, not live).
        "FX_MNT_PER_UNIT": {"EUR": "3900", "USD": "3450", "MNT": "1"},
        "FX_RATES_AS_OF": "2026-11-01",  # the day the Union declared them (marketplace/fx.py)
        # Transactional e-mail (Flask-Mailman over SMTP, sent by the job worker, `flask worker`, from the mail outbox).
        # Always the SMTP backend, in tests too: they read what a real SMTP server on loopback received.
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 8025,  # the local server `./dev run` starts (`flask mail smtpd`)
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_DEFAULT_SENDER": "Union of Sustainable Cashmere Cooperatives <no-reply@uscc.example>",
        "MAIL_TIMEOUT": 10,
        "MAIL_MAX_ATTEMPTS": 12,  # then the message is kept as failed (`flask mail retry` sends it again)
        "SITE_NAME": "Union of Sustainable Cashmere Cooperatives",
        # Sessions: a server-side row per sign-in (revoked by sign-out); remember-me is bounded.
        "SESSION_LIFETIME_HOURS": 12,
        "REMEMBER_DAYS": 30,
        "PASSWORD_RESET_MAX_AGE": 3600,  # seconds a reset link works
        "EMAIL_VERIFY_MAX_AGE": 3 * 24 * 3600,
        "UNSUBSCRIBE_MAX_AGE": 90 * 24 * 3600,  # seconds an e-mail's unsubscribe link works
        "ACCOUNT_RATE_LIMIT": "5 per hour",  # sign-up, reset and verification resend, per address of the client
        # Background jobs (marketplace/jobs): `flask worker` runs them.
        "JOBS_MAX_ATTEMPTS": 8,  # then the job is dead (the staff page /union/jobs lists it, with a retry button)
        "JOBS_BACKOFF_FIRST_SECONDS": 10,  # doubled on each failure, at most JOBS_BACKOFF_MAX_SECONDS
        "JOBS_BACKOFF_MAX_SECONDS": 3600,
        "JOBS_LEASE_SECONDS": 600,  # a claimed job whose worker died runs again after this
        "JOBS_STALE_SECONDS": 300,  # /healthz says "stalled" when a due job waited longer (no worker running)
        "JOBS_KEEP_DONE_DAYS": 7,
    }


def _dev() -> dict[str, Any]:
    INSTANCE.mkdir(parents=True, exist_ok=True)
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{INSTANCE / 'marketplace.sqlite3'}",
        "SECRET_KEY": _dev_secret(INSTANCE / "secret_key"),
        "IMAGE_STORAGE_PATH": str(INSTANCE / "images"),
        "PASSPORT_SIGNING_KEY": str(INSTANCE / "passport_signing_key.jwk"),
    }


def _test() -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "SECRET_KEY": secrets.token_hex(32),
        "IMAGE_STORAGE_PATH": None,  # tests pass a temp dir
        "PASSPORT_SIGNING_KEY": None,
        "STRIPE_API_BASE": None,
        "SEARCH_INDEX_PATH": None,  # tests pass a temp dir
    }


def _production() -> dict[str, Any]:
    return {
        "SESSION_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_SECURE": True,
        "PREFERRED_URL_SCHEME": "https",
        "DEMO_BANNER": False,
        "LOG_FORMAT": "json",
    }


PROFILES = {"dev": _dev, "test": _test, "production": _production}


def _dev_secret(path: Path) -> str:
    """A random dev secret kept under instance/ (never committed)."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _read_environment(config: dict[str, Any]) -> None:
    for name in ENV_VARS:
        value = os.environ.get(name)
        if value:
            config[name] = value
    for name in INT_ENV_VARS:
        value = os.environ.get(name)
        if value:
            try:
                config[name] = int(value)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    for name in BOOL_ENV_VARS:
        value = os.environ.get(name)
        if value:
            config[name] = _bool(name, value)
    if os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(os.environ["DATABASE_URL"])


def load(profile: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration for ``profile`` from defaults, environment and overrides."""
    overrides = dict(overrides or {})
    profile = profile or overrides.pop("ENV", None) or os.environ.get("MARKETPLACE_ENV", "dev")
    if profile not in PROFILES:
        raise ConfigError(f"MARKETPLACE_ENV must be one of {', '.join(PROFILES)}, not {profile!r}.")
    config = _base()
    config.update(PROFILES[profile]())
    config["ENV"] = profile
    if profile != "test":
        _read_environment(config)
    config.update(overrides)
    if config.get("SEARCH_APPLY_AFTER_COMMIT") is None:
        # With Meilisearch only the worker sends the outbox: one sender keeps the changes in order
        # (two senders could deliver an older copy of a document last), and no request waits on it.
        config["SEARCH_APPLY_AFTER_COMMIT"] = not config.get("MEILISEARCH_URL")
    if config.get("REDIS_URL") and config["RATELIMIT_STORAGE_URI"] == "memory://":
        # Several web processes count sign-in attempts together; Redis down fails closed (errors.py).
        config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]
    if "SQLALCHEMY_DATABASE_URI" in config:
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
        if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            # A local file cannot drop the connection: skip the extra round trip on every checkout.
            config["SQLALCHEMY_ENGINE_OPTIONS"] = {**config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False}
    if config.get("MAIL_USE_TLS") and config.get("MAIL_USE_SSL"):
        raise ConfigError("Set MAIL_USE_TLS (STARTTLS, usually port 587) or MAIL_USE_SSL (port 465), not both.")
    # The remember-me cookie lasts as long as the server-side session row it names (accounts/sessions.py).
    config["REMEMBER_COOKIE_DURATION"] = timedelta(days=config["REMEMBER_DAYS"])
    if profile == "production":
        _check_production(config)
    config.setdefault("TRUSTED_HOSTS", trusted_hosts(config["PUBLIC_BASE_URL"], production=profile == "production"))
    if profile != "test" and os.environ.get("TRUSTED_HOSTS"):  # e.g. the address a load balancer's probe uses
        config["TRUSTED_HOSTS"] = [*config["TRUSTED_HOSTS"],
                                   *(h.strip() for h in os.environ["TRUSTED_HOSTS"].split(",") if h.strip())]
    return config


def trusted_hosts(public_base_url: str, *, production: bool) -> list[str]:
    """The Host header values the site answers: PUBLIC_BASE_URL's host (plus loopback outside production).

    Flask answers any other Host with 400, so no URL, link or webhook can be re-pointed by a forged Host.
    """
    host = urlsplit(public_base_url).hostname
    hosts = [host] if host else []
    if not production:
        hosts += [h for h in LOCAL_HOSTS if h not in hosts]
    return hosts


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for ``postgres://`` and ``postgresql://`` URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def secret_is_strong(secret: str) -> bool:
    """Long enough and not guessable by pattern: no known weak value, no repeated block, enough entropy."""
    if secret.lower() in KNOWN_WEAK_SECRETS or len(secret) < SECRET_MIN_LENGTH:
        return False
    if (secret + secret).find(secret, 1) < len(secret):  # a block repeated, e.g. "ab" * 16
        return False
    counts = Counter(secret)
    if len(counts) < SECRET_MIN_DISTINCT:
        return False
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    return bits >= SECRET_MIN_BITS


def org_keys_secret_is_valid(secret: str) -> bool:
    """ORG_KEYS_SECRET: at least one Fernet key (32 url-safe base64 bytes), comma-separated, and nothing else."""
    parts = [part.strip() for part in secret.split(",")]
    if not secret.strip() or not all(parts):
        return False
    for part in parts:
        try:
            if len(base64.urlsafe_b64decode(part.encode("ascii"))) != 32 or len(part) != 44:
                return False
        except (ValueError, UnicodeEncodeError):
            return False
    return True


def _check_production(config: dict[str, Any]) -> None:
    """Refuse, in one line each, every setting that is unsafe on the public site."""
    refuse = "Refusing to start in production: "
    if not secret_is_strong(config.get("SECRET_KEY") or ""):
        raise ConfigError(refuse + "set SECRET_KEY to a random value of at least 32 characters "
                          "(e.g. python -c 'import secrets; print(secrets.token_hex(32))').")
    database = config.get("SQLALCHEMY_DATABASE_URI") or ""
    if not database:
        raise ConfigError(refuse + "set DATABASE_URL.")
    if database.startswith("sqlite"):
        raise ConfigError(refuse + "DATABASE_URL is SQLite; use PostgreSQL (postgresql://...).")
    if config.get("STRIPE_API_BASE"):
        raise ConfigError(refuse + "unset STRIPE_API_BASE (it sends payments to a test server such as localstripe).")
    if config.get("STRIPE_SECRET_KEY") and not config.get("STRIPE_WEBHOOK_SECRET"):
        raise ConfigError(refuse + "STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET, "
                          "so Stripe's payment confirmations could not be verified.")
    if not org_keys_secret_is_valid(config.get("ORG_KEYS_SECRET") or ""):
        raise ConfigError(refuse + "set ORG_KEYS_SECRET to one or more Fernet keys, comma-separated (each 32 url-safe "
                          "base64 bytes, e.g. python -c 'from cryptography.fernet import Fernet; "
                          "print(Fernet.generate_key().decode())'); it encrypts the issuers' signing keys.")
    base = urlsplit(config.get("PUBLIC_BASE_URL") or "")
    if base.scheme != "https" or not base.hostname or base.username or base.path not in ("", "/") \
            or base.query or base.fragment:
        raise ConfigError(refuse + "set PUBLIC_BASE_URL to the site's https:// origin, e.g. https://market.example.org.")
