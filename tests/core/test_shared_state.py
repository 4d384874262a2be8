"""State shared across web processes (issue 20): with REDIS_URL the sign-in limit counts the attempts made
through every process together; Redis down fails closed with a clear 503, never a 500 and never an
uncounted sign-in. Two real gunicorn processes and Debian's redis-server (started by ./dev test, or here)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.conftest import ROOT

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
SIGNIN_LIMIT = 10  # SIGNIN_RATE_LIMIT's default: "10 per minute"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, process: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process on port {port} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The run's Redis (./dev test exports TEST_REDIS_URL), or a throwaway one started here."""
    shared = os.environ.get("TEST_REDIS_URL")
    if shared:
        yield shared
        return
    if not os.path.exists(REDIS_BIN):
        pytest.skip("redis-server is not installed (./dev test installs Debian's)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(  # noqa: S603 (Debian's redis-server, fixed arguments)
            [REDIS_BIN, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def redis_database(url: str, number: int) -> str:
    """The same server, database ``number``: each test that counts in Redis has its own (the run's Redis is
    shared by the test processes; a sign-in counted by another test would count against this one's limit)."""
    base, _, last = url.rstrip("/").rpartition("/")
    return f"{base}/{number}" if last.isdigit() else f"{url.rstrip('/')}/{number}"


def _web_processes(app: Flask, tmp_path: Path,
                   *wanted: tuple[str, str | None]) -> list[tuple[subprocess.Popen, str]]:
    """Web processes (gunicorn, one worker each; name and REDIS_URL each) on the test's database, in the dev
    profile: all started at once, then each waited for (they boot side by side)."""
    started = []
    for name, redis in wanted:
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MEILISEARCH", "TEST_"))},
            "MARKETPLACE_ENV": "dev", "MARKETPLACE_INSTANCE": str(tmp_path / f"instance-{name}"),
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
            "IMAGE_STORAGE_PATH": str(tmp_path / "images"), "SEARCH_INDEX_PATH": str(tmp_path / f"search-{name}"),
            "PASSPORT_SIGNING_KEY": app.config["PASSPORT_SIGNING_KEY"],
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
        if redis:
            env["REDIS_URL"] = redis
        with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
                [sys.executable, "-m", "gunicorn", "--preload", "-w", "1", "-b", f"127.0.0.1:{port}",
                 "marketplace:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)  # its own process group: the master and its worker are stopped together
        started.append((name, process, port))
    for name, process, port in started:
        try:
            _wait(port, process)
        except RuntimeError:
            _stop(*(p for _, p, _ in started))
            raise RuntimeError((tmp_path / f"{name}.log").read_text()[-3000:]) from None
    return [(process, f"http://127.0.0.1:{port}") for _, process, port in started]


def _stop(*processes: subprocess.Popen) -> None:
    """Kill each server's process group (the master and its workers) at once: nothing it holds outlives the
    test (its database is the test's own copy), and no server outlives the test either."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait(10)


def _attempt(base: str, http: requests.Session) -> requests.Response:
    page = http.get(f"{base}/signin", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page[:500]
    return http.post(f"{base}/signin", data={"email": "nobody@example.com", "password": "wrong-password-123",
                                             "csrf_token": token.group(1)}, timeout=30, allow_redirects=False)


def test_two_web_processes_count_sign_in_attempts_together_in_redis(app: Flask, tmp_path: Path,
                                                                    redis_url: str) -> None:
    import redis

    redis_url = redis_database(redis_url, 1)
    redis.Redis.from_url(redis_url).flushdb()
    (first, first_url), (second, second_url) = _web_processes(app, tmp_path, ("a", redis_url), ("b", redis_url))
    try:
        http = requests.Session()
        codes = [_attempt(first_url if n % 2 else second_url, http).status_code for n in range(SIGNIN_LIMIT)]
        assert 429 not in codes  # ten attempts, five through each process
        assert _attempt(first_url, http).status_code == 429  # the eleventh, whichever process gets it
        assert _attempt(second_url, http).status_code == 429
    finally:
        _stop(first, second)


def test_without_redis_each_process_counts_alone_and_with_redis_down_sign_in_fails_closed(
        app: Flask, tmp_path: Path, redis_url: str) -> None:
    """The in-memory default is per process (why REDIS_URL exists); an unreachable Redis refuses sign-in
    with a clear 503 and changes nothing."""
    (alone, alone_url), (down, down_url) = _web_processes(
        app, tmp_path, ("memory", None), ("down", f"redis://127.0.0.1:{_free_port()}/0"))
    try:
        http = requests.Session()
        assert [_attempt(alone_url, http).status_code for _ in range(SIGNIN_LIMIT)].count(429) == 0
        refused = _attempt(down_url, http)
        assert refused.status_code == 503
        assert "Signing in is unavailable for a moment" in refused.text
        assert "Traceback" not in refused.text
    finally:
        _stop(alone, down)
