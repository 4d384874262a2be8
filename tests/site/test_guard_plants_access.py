"""The central permission check (marketplace/access.py), each branch on its own (issue 21).

``test_access.py`` proves every endpoint *declares* a rule; these prove ``enforce`` *applies* it:
an undeclared view is refused, and a signed-out POST (with a valid CSRF token, so CSRF does not
answer first) gets 401 rather than a redirect that would hide the refusal.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from marketplace.extensions import db
from marketplace.pricing.models import PricePolicy
from tests.helpers import csrf_token


def test_a_view_that_declares_no_rule_is_refused(app: Flask) -> None:
    calls: list[str] = []

    def undeclared() -> str:
        calls.append("called")
        return "open"

    app.add_url_rule("/guard-probe/undeclared", "guard_probe_undeclared", undeclared, methods=["GET"])
    client = app.test_client()
    assert client.get("/guard-probe/undeclared").status_code == 403
    assert calls == []


def test_a_signed_out_post_to_a_staff_route_is_401_and_writes_nothing(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client)  # an anonymous session's valid token
    response = client.post("/union/fair-price", data={
        "csrf_token": token, "season": "2026", "currency": "EUR", "greasy_floor": "30.00",
        "dehaired_floor": "95.00"})
    assert response.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PricePolicy)) == 0
    # A GET of the same page sends the visitor to sign in instead.
    page = client.get("/union/fair-price")
    assert page.status_code == 302
    assert "/signin" in page.headers["Location"]
