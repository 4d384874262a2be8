"""The Host header is not trusted: absolute URLs come from PUBLIC_BASE_URL, and unknown hosts get 400."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask

from marketplace import create_app
from tests import factories
from tests.core.test_config import STRONG_SECRET
from tests.helpers import ADDRESS, csrf_token, text


class Listener:
    """A real HTTP listener on loopback that records the paths POSTed to it (a webhook receiver)."""

    def __init__(self) -> None:
        self.posts: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.posts.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    public, attacker = Listener(), Listener()
    yield public, attacker
    public.close()
    attacker.close()


def production_app(tmp_path: Path) -> Flask:
    # The database is never reached: the Host is refused before any view runs.
    return create_app({
        "ENV": "production", "SECRET_KEY": STRONG_SECRET, "SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:9/none",
        "PUBLIC_BASE_URL": "https://market.example.org", "IMAGE_STORAGE_PATH": str(tmp_path / "images"),
        "SEARCH_INDEX_PATH": str(tmp_path / "search"), "STRIPE_API_BASE": None, "STRIPE_SECRET_KEY": None,
        "ORG_KEYS_SECRET": "GbKLqLf8nOZ0b2Y6XbqQ5FJz0TgWmXhBvN1e9yK3sAc=",
    })


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:5000", "localhost", "market.example.org.evil.example"])
def test_production_answers_a_forged_host_with_400(tmp_path: Path, host: str) -> None:
    client = production_app(tmp_path).test_client()
    for path in ("/about", "/api/v1/openapi.json", "/payments/stripe/webhook", "/no-such-page"):
        response = client.get(path, headers={"Host": host}, base_url="https://market.example.org")
        assert response.status_code == 400, (host, path)
        assert "market.example.org" not in text(response)
    with client.get("/static/css/site.css", base_url="https://market.example.org") as allowed:
        assert allowed.status_code == 200


def test_openapi_servers_come_from_public_base_url(client) -> None:  # type: ignore[no-untyped-def]
    # localhost is trusted in tests (the test client and live servers use it), yet it is not the public origin.
    spec = client.get("/api/v1/openapi.json", headers={"Host": "localhost:8765"}).get_json()
    assert spec["servers"] == [{"url": "http://127.0.0.1:5000"}]


def test_localstripe_webhook_goes_to_public_base_url_whatever_the_host(
    app: Flask, listeners: tuple[Listener, Listener]
) -> None:
    """The attack seen on a dev checkout: a Host naming another loopback listener re-pointed the webhook."""
    public, attacker = listeners
    app.config["PUBLIC_BASE_URL"] = public.url
    attacker_host = attacker.url.removeprefix("http://")
    product = factories.product_for_sale(price_minor=29000)
    client = app.test_client()
    client.environ_base["HTTP_HOST"] = attacker_host  # every request of this shopper names the attacker's host
    token = csrf_token(client)
    client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 1})
    form_id = text(client.get("/cart")).split('name="form_id" type="hidden" value="')[1].split('"')[0]
    response = client.post("/cart/checkout",
                           data={"csrf_token": token, "form_id": form_id, "email": "shopper@example.com", **ADDRESS})
    assert response.status_code == 302, text(response)
    assert client.post("/cart/payment", data={"csrf_token": token}).status_code == 302
    deadline = time.monotonic() + 10
    while not public.posts and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/payments/stripe/webhook" in public.posts
    assert attacker.posts == []
