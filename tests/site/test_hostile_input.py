"""Hostile input that once ended in a 500 (issue 14): query parameters steering URL building,
non-finite and oversized numbers, money with too many decimals, blank choices, unreadable JSON,
forms sent twice at once, malformed signed webhooks, 405 without Allow."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.access import public
from marketplace.extensions import db
from marketplace.forms_common import FiniteDecimalField
from marketplace.money import AmountPrecisionError, to_minor
from marketplace.orders.models import QuoteRequest
from tests.conftest import PG_URL
from tests.crawl import DEMO_USERS, pages_as, parse, sign_in_demo
from tests.helpers import ADDRESS, csrf_token, text

HOSTILE_PARAMS = ["endpoint=x", "_method=x", "_anchor=x", "_scheme=x", "_external=1", "_scheme=javascript&_external=1",
                  "public_id=x", "code=x", "slug=x", "product_id=1", "rest=x", "lang=fr&endpoint=x"]
# A Host the test profile trusts (loopback) but that is not PUBLIC_BASE_URL: the page must render, and
# nothing in it may point there. (An untrusted Host is refused with 400 before any view: tests/core/test_hosts.py.)
EVIL_HOST = "localhost:8765"


@pytest.fixture
def role_clients(demo_app: Flask) -> dict[str, FlaskClient]:
    """A client per demo role, signed in once (sign-in is rate limited), and an anonymous one ("")."""
    return {"": demo_app.test_client(), **{role: sign_in_demo(demo_app, role) for role in DEMO_USERS}}


def test_no_query_parameter_breaks_a_page_or_points_its_links_elsewhere(
        demo_app: Flask, role_clients: dict[str, FlaskClient]) -> None:
    owners: dict[str, str] = {}  # every page found, with the first role that sees it
    for role, client in role_clients.items():
        for url, status in pages_as(demo_app, client, role).items():  # as the form fuzzer's crawl found them
            if status == 200:
                owners.setdefault(url, role)
    assert len(owners) > 60  # rules without arguments and the demo objects' pages
    assert any(url.startswith("/passports/") and owners[url] == "" for url in owners)
    tried, answered, failures = 0, 0, []
    params = reaching_the_database(HOSTILE_PARAMS)
    for url, role in owners.items():
        client = role_clients[role]
        for query in params:
            response = client.get(f"{url}?{query}", headers={"Host": EVIL_HOST})
            tried += 1
            answered += response.status_code < 400
            body = response.get_data(as_text=True) if response.mimetype.startswith("text/") else ""
            if response.status_code >= 500:
                failures.append((role, url, query, response.status_code))
            elif f"//{EVIL_HOST}" in body or EVIL_HOST in response.headers.get("Location", ""):
                failures.append((role, url, query, "link built from the Host header"))
            elif 'href="javascript:' in body.lower():
                failures.append((role, url, query, "javascript: link"))
    assert failures == []
    assert tried > 60 * len(params)
    assert answered > tried // 2  # the pages really rendered with the hostile parameters


def every_form_class() -> list[type]:
    """Every form class of the site (each module imported first, so that none is missed)."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm

    import marketplace

    for module in pkgutil.walk_packages(marketplace.__path__, "marketplace."):
        importlib.import_module(module.name)

    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    return subclasses(FlaskForm)


# request.args.get("q"), request.args["untp"], any_source.getlist("code"), and helpers named *_arg("page")
QUERY_READS = re.compile(r"(?:request\.(?:args|values)(?:\.get\(|\[)|\.getlist\(|\w_arg\()\s*[\"']([a-z_]+)")
FORMS_ON_THE_QUERY = re.compile(r"([A-Z]\w*)\((?:formdata=)?request\.(?:args|values)\)")  # LotFilterForm(request.args)


def read_by_views() -> set[str]:
    """The query parameters some code of the site reads: by name from ``request.args``/``request.values``, and
    as the fields of a form bound to the query string."""
    from wtforms.fields.core import UnboundField

    import marketplace

    sources = [source.read_text() for source in Path(marketplace.__file__).parent.rglob("*.py")]
    read = {name for text in sources for name in QUERY_READS.findall(text)}
    bound = {name for text in sources for name in FORMS_ON_THE_QUERY.findall(text)}
    forms = [form for form in every_form_class() if form.__name__ in bound]
    assert {form.__name__ for form in forms} == bound, bound  # every form bound to the query string was found
    return read | {name for form in forms for name in dir(form) if isinstance(getattr(form, name), UnboundField)}


def reaching_the_database(params: list[str], postgresql: bool = bool(PG_URL)) -> list[str]:
    """On PostgreSQL, the hostile query strings of which a view reads a parameter. The others only steer URL
    building, which does not depend on the database: the SQLite pass sends them. (The crawled pages themselves
    render on PostgreSQL in both passes' sweep, and as every role in the form fuzzer's crawl.)"""
    if not postgresql:
        return params
    read = read_by_views()
    return [query for query in params if {pair.split("=")[0] for pair in query.split("&")} & read]


def test_the_parameters_views_read_are_found() -> None:
    read = read_by_views()
    assert {"q", "page", "next", "lang", "code"} <= read  # "code": the lots ticked for comparison
    assert {"colour", "micron_min", "recycled"} <= read  # fields of the lot and product search forms
    assert {"season", "version", "start", "limit"} <= read  # through int_arg and the log's _size_arg
    assert reaching_the_database(HOSTILE_PARAMS, postgresql=False) == HOSTILE_PARAMS
    assert reaching_the_database(HOSTILE_PARAMS, postgresql=True) == ["code=x", "lang=fr&endpoint=x"]


def test_the_language_switcher_keeps_the_query_string_as_text(demo_client: FlaskClient) -> None:
    html = text(demo_client.get("/lots?colour=white&endpoint=x&_external=1&lang=de"))
    links = [link for link in parse("/lots", html).links if "lang=" in link]
    assert "/lots?colour=white&endpoint=x&_external=1&lang=fr" in links
    assert all(link.startswith("/") and not link.startswith("//") for link in links)


def test_the_gs1_resolver_carries_the_query_string_without_steering_the_redirect(demo_app: Flask) -> None:
    from marketplace.products.models import Product, ProductStatus

    with demo_app.app_context():
        gtin = db.session.scalar(select(Product.gtin).where(Product.gtin.is_not(None),
                                                             Product.status == ProductStatus.published).limit(1))
    assert gtin
    client = demo_app.test_client()
    response = client.get(f"/01/{gtin}?public_id=other&_external=1&_anchor=x&utm=1", headers={"Host": EVIL_HOST})
    assert response.status_code == 307
    location = response.headers["Location"]
    assert location.startswith("/passports/")
    assert EVIL_HOST not in location
    assert "#" not in location
    assert "public_id=other" in location
    assert "utm=1" in location
    assert client.get(f"/01/{gtin}?endpoint=x").status_code == 307


def test_the_error_page_never_falls_back_to_the_framework_page(demo_app: Flask) -> None:
    """If the layout itself fails, the error page is still the site's own short page, with the status."""
    @demo_app.route("/broken-for-test")
    @public
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    demo_app.jinja_env.globals["switch_url"] = lambda lang: 1 / 0  # every layout render fails
    response = demo_app.test_client().get("/broken-for-test")
    assert response.status_code == 500
    assert "Something went wrong on our side" in text(response)
    assert "Internal Server Error" not in text(response)


def test_405_answers_carry_allow(client: FlaskClient) -> None:
    for method, url in (("post", "/about"), ("put", "/lots"), ("delete", "/signin"), ("get", "/cart/checkout"),
                        ("post", "/api/v1/lots")):
        response = getattr(client, method)(url)
        assert response.status_code == 405, url
        allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
        assert "GET" in allowed or "POST" in allowed, (url, response.headers.get("Allow"))


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sNaN", "NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "1E+18", "-1E+30"])
def test_the_shared_decimal_field_refuses_non_finite_and_absurd_values(app: Flask, value: str) -> None:
    from flask_wtf import FlaskForm
    from werkzeug.datastructures import MultiDict

    class AForm(FlaskForm):
        class Meta:
            csrf = False

        amount = FiniteDecimalField(places=2)

    with app.test_request_context():
        form = AForm(MultiDict({"amount": value}))
        assert not form.validate()
        assert form.amount.errors
        assert "amount" in form.amount()  # and it renders


def test_every_number_field_of_every_form_is_bounded() -> None:
    """No form uses wtforms' bare DecimalField/IntegerField (sNaN or 2**70 would reach the database)."""
    from wtforms import DecimalField, FloatField, IntegerField

    from marketplace.forms_common import BoundedIntegerField

    checked = 0
    for form in every_form_class():
        for name in dir(form):
            unbound = getattr(form, name)
            kind = getattr(unbound, "field_class", None)
            if kind is None:
                continue
            if issubclass(kind, DecimalField | FloatField):
                assert issubclass(kind, FiniteDecimalField), f"{form.__name__}.{name}"
                checked += 1
            elif issubclass(kind, IntegerField):
                assert issubclass(kind, BoundedIntegerField), f"{form.__name__}.{name}"
                checked += 1
    assert checked > 40


def test_int_url_arguments_beyond_64_bits_are_404(demo_client: FlaskClient, demo_app: Flask) -> None:
    from werkzeug.routing import IntegerConverter

    rules = [rule for rule in demo_app.url_map.iter_rules()
             if any(isinstance(c, IntegerConverter) for c in rule._converters.values())]
    assert len(rules) >= 17
    admin = sign_in_demo(demo_app, "admin")
    for rule in rules:
        values = {name: 2**70 if isinstance(c, IntegerConverter) else "enrol" if "accredit" in rule.rule else "x"
                  for name, c in rule._converters.items()}
        url = "".join(str(values[part]) if is_arg else part for is_arg, part in rule._trace)[1:]
        url = url[url.index("/"):]  # _trace starts with the (empty) host part
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        for client in (demo_client, admin):
            response = client.open(url, method=method)
            assert response.status_code == 404, (url, response.status_code)
    for url in ("/products/1?version=" + str(2**70), "/union/season?season=" + str(2**70),
                "/union/season?season=²"):
        assert admin.get(url).status_code < 500, url


def test_money_helper_refuses_more_decimals_than_the_currency_has() -> None:
    assert to_minor(Decimal("120.01"), "EUR") == 12001
    assert to_minor(Decimal("120.010"), "USD") == 12001
    assert to_minor(5, "MNT") == 500
    for amount in ("120.019", "0.001", "NaN"):
        with pytest.raises(AmountPrecisionError):
            to_minor(Decimal(amount), "EUR")


def test_a_staff_quote_with_a_third_decimal_is_refused_not_truncated(demo_app: Flask) -> None:
    staff = sign_in_demo(demo_app, "union_staff")
    quotes = text(staff.get("/union/quotes"))
    quote = next(link for link in parse("/union/quotes", quotes).links
                 if link.startswith("/union/quotes/") and link.rstrip("/").split("/")[-1].isdigit())
    form = next(f for f in parse(quote, text(staff.get(quote))).forms if f.action.endswith("/answer"))
    data = dict(form.fields) | {"price": "120.019", "premium": "8.00"}
    response = staff.post(form.action, data=data)
    assert response.status_code == 422
    assert "EUR amounts have at most 2 decimal places" in text(response) \
        or "USD amounts have at most 2 decimal places" in text(response)


# --- other 500s -----------------------------------------------------------------------------


def test_whitespace_in_optional_choices_means_none(demo_app: Flask) -> None:
    buyer = sign_in_demo(demo_app, "brand_buyer")
    form = next(f for f in parse("/quotes/new", text(buyer.get("/quotes/new"))).forms if "kg" in f.names)
    data = dict(form.fields) | {"colour": "   ", "kg": "300", "incoterm_place": "Biella"}
    response = buyer.post(form.action, data=data)
    assert response.status_code < 500
    assert text(response).count("Traceback") == 0


def test_a_quote_request_sent_twice_at_once_counts_once_without_an_error(demo_app: Flask) -> None:
    buyer = sign_in_demo(demo_app, "brand_buyer")
    form = next(f for f in parse("/quotes/new", text(buyer.get("/quotes/new"))).forms if "kg" in f.names)
    data = dict(form.fields) | {"kg": "300", "incoterm_place": "Biella", "colour": "", "tier": "",
                                "fibre_state": "dehaired", "price_basis": "clean"}
    with demo_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(QuoteRequest))
    cookie = buyer.get_cookie("session")
    assert cookie is not None
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        client = demo_app.test_client()
        client.set_cookie("session", cookie.value)
        barrier.wait(timeout=30)
        statuses.append(client.post(form.action, data=data).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [302] * 4
    with demo_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QuoteRequest)) == before + 1


@pytest.mark.parametrize(("document", "status"), [
    ('{"a":' * 5_000 + "1" + "}" * 5_000, 400),  # deeper than the JSON parser's recursion limit
    ('{"a": ' + "[" * 200 + "]" * 200 + "}", 400),  # parses, but deeper than any passport
    ('{"id": "\\ud800"}', 400),  # a lone surrogate in a value
    ('{"\\udfff": 1}', 400),  # and in a key
    ("[" * 100_000 + "]" * 100_000, 200),  # not JSON-LD: read as a signed passport, which it is not
    ('{"id": "x"}', 200),  # readable: judged, and found not authentic
])
def test_unreadable_json_posted_to_verify_gets_a_clear_400(client: FlaskClient, document: str, status: int) -> None:
    token = csrf_token(client, "/passports/verify")
    response = client.post("/passports/verify", data={"csrf_token": token, "document": document})
    assert response.status_code == status
    if status == 400:
        assert "This document cannot be read" in text(response)
    else:
        assert "Not authentic" in text(response)


def test_a_signed_webhook_whose_amount_is_not_a_number_is_a_400(app: Flask) -> None:
    from tests.payments.test_payments import WEBHOOK, _signed

    assert app.config.get("STRIPE_WEBHOOK_SECRET")
    client = app.test_client()
    for index, amount in enumerate(("12001", "abc", 1.5, True, [1], {"v": 1}, 2**70)):
        event = {"id": f"evt_amount_{index}", "type": "payment_intent.succeeded", "created": 1_700_000_000,
                 "data": {"object": {"id": "pi_x", "object": "payment_intent", "amount": amount}}}
        payload, headers = _signed(event)
        response = client.post(WEBHOOK, data=payload, headers=headers)
        assert response.status_code == 400, amount
        assert "amount" in json.loads(response.get_data())["error"]
    for body in (b'{"id": "evt_deep", "type": "x", "created": 1, "data": {"object": '
                 + b"[" * 50_000 + b"]" * 50_000 + b"}}",
                 b'{"id": "evt_late", "type": "x", "created": 1e400, "data": {"object": {}}}',
                 b'{"id": "evt_huge", "type": "x", "created": ' + str(2**70).encode() + b', "data": {"object": {}}}'):
        _, headers = _signed_raw(body)
        assert client.post(WEBHOOK, data=body, headers=headers).status_code == 400
    with app.app_context():
        from marketplace.payments.models import WebhookEvent

        assert db.session.scalar(select(func.count(WebhookEvent.id))) == 0


def _signed_raw(payload: bytes) -> tuple[bytes, dict]:
    import hashlib
    import hmac
    import time

    from tests.conftest import STRIPE_WEBHOOK_SECRET

    stamp = int(time.time())
    signature = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def test_a_checkout_sent_twice_at_once_makes_one_order_without_an_error(app: Flask) -> None:
    from marketplace.payments.models import ConsumerOrder
    from tests import factories

    product = factories.product_for_sale(price_minor=29000)
    first = app.test_client()
    token = csrf_token(first)
    assert first.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 1}).status_code \
        == 302
    form = next(f for f in parse("/cart", text(first.get("/cart"))).forms if f.action == "/cart/checkout")
    data = dict(form.fields) | {"email": "shopper@example.com", **ADDRESS}
    cookie = first.get_cookie("session")
    assert cookie is not None
    statuses: list[int] = []
    barrier = threading.Barrier(3)

    def send() -> None:
        client = app.test_client()
        client.set_cookie("session", cookie.value)
        barrier.wait(timeout=30)
        statuses.append(client.post("/cart/checkout", data=data).status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [302] * 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsumerOrder)) == 1
