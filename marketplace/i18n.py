"""Locale choice and locale-aware formatting.

The locale comes from the ``lang`` query parameter (remembered in a cookie),
then the cookie, then the signed-in user's preference, then ``Accept-Language``.
Quantities (kg, µm) keep their units in every locale; only the number format changes.
"""

from __future__ import annotations

import contextlib
import functools
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.numbers import format_decimal
from flask import Flask, Response, current_app, g, has_request_context, request, session, url_for
from flask_babel import format_currency, get_locale, get_translations, lazy_pgettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_login import current_user
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from marketplace.flask_app import same_for_everyone
from marketplace.fx import convert_minor, fx_rates
from marketplace.money import from_minor

LANGUAGE_NAMES = {
    "en": "English",
    "mn": "Монгол",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "zh": "中文",
}
COOKIE = "lang"


def _escaped(self: LazyString) -> Markup:
    return escape(str(self))


# Flask-Babel's lazy strings call themselves safe HTML (``LazyString.__html__`` returns the text as it is), so a
# template would put a lazy message with a person's value formatted in (``_l("… %(name)s", name=…)``) into the
# page unescaped. No message of ours holds markup: a lazy string is escaped like any other text.
LazyString.__html__ = _escaped  # type: ignore[method-assign]


def select_locale() -> str:
    config = current_app.config
    if not has_request_context():  # CLI commands and workers: the default locale
        return config["BABEL_DEFAULT_LOCALE"]
    g.language_chosen = True  # the response may depend on the language (see _remember_choice)
    locales = config["LOCALES"]
    environ = request.environ
    # Each source is parsed only when the request carries it: a QR scan usually has none but
    # Accept-Language, and this runs on every passport page, 304s included.
    if environ.get("QUERY_STRING"):
        chosen = request.args.get("lang")
        if chosen in locales:
            g.set_lang_cookie = chosen
            return chosen
    if environ.get("HTTP_COOKIE"):  # the language cookie, and any sign-in, ride on cookies
        cookie = request.cookies.get(COOKIE)
        if cookie in locales:
            return cookie
        if may_be_signed_in() and current_user.is_authenticated and current_user.locale in locales:
            return current_user.locale
    if not environ.get("HTTP_ACCEPT_LANGUAGE"):
        return config["BABEL_DEFAULT_LOCALE"]
    return request.accept_languages.best_match(locales) or config["BABEL_DEFAULT_LOCALE"]


def may_be_signed_in() -> bool:
    """Whether the request carries a sign-in at all: anonymous visitors (every QR scan) skip the
    user loader, which would otherwise cost a session/cookie round on the hottest public pages."""
    return "_user_id" in session or current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


_VARY = "Accept-Language, Cookie"  # the page's language comes from these


def _remember_choice(response: Response) -> Response:
    lang = g.pop("set_lang_cookie", None)
    if lang:
        response.set_cookie(
            COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False), httponly=True,
        )
    if not g.get("language_chosen") and same_for_everyone(response):
        # The same bytes for every reader (a fingerprinted static file, a published picture), and no language was
        # chosen while making them: without ``Vary: Cookie`` a browser reuses them after its cookies change (a
        # language switch, a refreshed session), and a shared cache may keep them at all.
        return response
    vary = response.headers.get("Vary")
    if not vary:  # the usual case, without parsing a header set
        response.headers["Vary"] = _VARY
        return response
    present = {name.strip().lower() for name in vary.split(",")}
    missing = [name for name in ("Accept-Language", "Cookie") if name.lower() not in present]
    if missing and "*" not in present:
        response.headers["Vary"] = ", ".join([vary, *missing])
    return response


def switch_url(lang: str) -> str:
    """The current page, with its query string, in another language.

    The query string is encoded here, never handed to ``url_for`` as keyword arguments: a visitor's
    ``?endpoint=``, ``?_method=``, ``?_external=`` or a parameter named like one of the page's URL
    arguments would otherwise steer (or break) the URL building.
    """
    path, query = request.environ.get(SWITCH_BASE) or _switch_base()
    return path + "?" + urlencode([*query, ("lang", lang)])


SWITCH_BASE = "marketplace.switch_base"  # kept in the request's environ: ``g`` may outlive a request


def _switch_base() -> tuple[str, list[tuple[str, str]]]:
    """The current page's path and query without ``lang``, found once per request (a page links to itself
    in each language twice: the language menu and the ``hreflang`` alternates)."""
    base: tuple[str, list[tuple[str, str]]] = (url_for("pages.home"), [])
    if request.endpoint and request.endpoint != "static":  # else an error page: no rule matched, or a file's
        with contextlib.suppress(BuildError):
            base = (url_for(request.endpoint, **(request.view_args or {})),
                    [(key, value) for key, value in request.args.items(multi=True) if key != "lang"])
    request.environ[SWITCH_BASE] = base
    return base


def money(minor: int | None, currency: str) -> str:
    """Format an amount held in minor units (ISO 4217) for the current locale."""
    if minor is None:
        return ""
    return format_currency(from_minor(minor, currency), currency)


def number(value: Decimal | int | float | None, places: int | None = None) -> str:
    if value is None:
        return ""
    if places is not None:
        value = Decimal(value).quantize(Decimal(1).scaleb(-places))
        fmt = "#,##0." + "0" * places if places else "#,##0"
        return format_decimal(value, format=fmt, locale=str(get_locale()))
    return format_decimal(value, locale=str(get_locale()))


def significant(value: Decimal | int | float | None, digits: int = 3) -> str:
    """A quantity with ``digits`` significant figures (0.42 → 0.420, 1250 → 1,250): small yields stay visible."""
    if value is None:
        return ""
    exact = Decimal(str(value))
    if not exact:
        return number(exact, 0)
    return number(exact, max(0, digits - 1 - exact.adjusted()))


def converted(minor: int | None, currency: str, to: str) -> str:
    """An amount shown in another currency, at the Union's reference rates (money.convert_minor)."""
    if minor is None:
        return ""
    return money(convert_minor(minor, currency, to), to)


def with_unit(value: Decimal | int | None, unit: str, places: int | None = None) -> str:
    if value is None:
        return "—"
    return f"{number(value, places)}\u00a0{unit}"


# Countries: every ISO 3166-1 alpha-2 code (249), named in the page's language from Babel's CLDR data.
NOT_ISO_3166 = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}


def country_choices() -> list[tuple[str, str]]:
    """(code, name) for every country, Mongolia first, then by name in the current language."""
    return list(_countries(str(get_locale() or "en")))


@functools.lru_cache(maxsize=16)
def _countries(locale: str) -> tuple[tuple[str, str], ...]:  # sorted once per language, not per request
    english = Locale("en").territories
    names = Locale.parse(locale).territories
    codes = [c for c in english if len(c) == 2 and c.isalpha() and c.isupper() and c not in NOT_ISO_3166]
    rest = sorted((c for c in codes if c != "MN"), key=lambda c: names.get(c, english[c]).casefold())
    return tuple((c, names.get(c, english[c])) for c in ["MN", *rest])


# Labels of enum values, translated in one place.
LABELS: dict[str, Any] = {
    "white": _l("White"),
    "light_grey": _l("Light grey"),
    "grey": _l("Grey"),
    "brown": _l("Brown"),
    # The cooperative funds and the premium ledger
    "sustainable_investment": _l("Sustainable investment"),
    "fodder": _l("Fodder"),
    "risk_management": _l("Risk management"),
    "pug_cofunding": _l("Pasture-user group co-funding"),
    "social_fund": _l("Social fund"),
    "premium_due": _l("Premium due"),
    "payment": _l("Payment"),
    "fund_split": _l("Fund split"),
    # Certification control
    "self_evaluation": _l("Herder self-evaluation"),
    "external_control": _l("External control"),
    "passed": _l("Passed"),
    "issue": _l("Issue"),
    "renew": _l("Renew"),
    "suspend": _l("Suspend"),
    "revoke": _l("Revoke"),
    "compliant": _l("Compliant"),
    "minor_nonconformity": _l("Minor non-conformity"),
    "major_nonconformity": _l("Major non-conformity"),
    "not_applicable": _l("Not applicable"),
    # Certification schemes and their tiers, keyed by the name the scheme file gives (content/schemes)
    "Sustainable Cashmere": _l("Sustainable Cashmere"),
    "MSME Voluntary Code of Practice": _l("MSME Voluntary Code of Practice"),
    "Entry": lazy_pgettext("certification tier", "Entry"),
    "Advanced": lazy_pgettext("certification tier", "Advanced"),
    "Committed": lazy_pgettext("certification tier", "Committed"),
    "Reporting": lazy_pgettext("certification tier", "Reporting"),
    "Verified": lazy_pgettext("certification tier", "Verified"),
    # MSME Code of Practice
    "labour": _l("Labour"),
    "health_safety": _l("Occupational health and safety"),
    "environment": _l("Environment"),
    "ethics": _l("Anti-corruption and business ethics"),
    "returned": _l("Returned"),
    "enrolled": _l("Enrolled in the scheme"),
    "accredited": _l("Accredited for the scheme"),
    # Micron bands of the fair-price policy
    "ultrafine": _l("Up to 15.5 µm"),
    "fine": _l("15.6 to 16.5 µm"),
    "standard": _l("16.6 to 19.0 µm"),
    "greasy": _l("Greasy (combed)"),
    "scoured": _l("Scoured"),
    "dehaired": _l("Dehaired"),
    "clean": _l("Clean (dehaired)"),
    "unsorted": _l("Unsorted"),
    "kid": _l("Kid"),
    "adult_female": _l("Adult female"),
    "adult_male": _l("Adult male"),
    "self_declared": _l("Self-declared"),
    "internal_control": _l("Cooperative internal control"),
    "s3c_external": _l("S3C external control"),
    "accredited_third_party": _l("Accredited third party"),
    "identity_preserved": _l("Identity preserved"),
    "segregated": _l("Segregated"),
    "mass_balance": _l("Mass balance"),
    "active": _l("Active"),
    "suspended": _l("Suspended"),
    "revoked": _l("Revoked"),
    "expired": _l("Expired"),
    "valid": _l("Valid"),
    "not_yet_valid": _l("Not yet valid"),
    "uncertified": _l("Not certified"),
    "union_staff": _l("Union staff"),
    "cooperative_manager": _l("Cooperative manager"),
    "msme_editor": _l("MSME editor"),
    "brand_buyer": _l("Brand buyer"),
    "certifier": _l("Certifier"),
    "admin": _l("Administrator"),
    "union": _l("Union"),
    "cooperative": _l("Cooperative"),
    "msme": _l("MSME"),
    "brand": _l("Brand"),
    "draft": _l("Draft"),
    "listed": _l("Listed"),
    "withdrawn": _l("Withdrawn"),
    "submitted": _l("Submitted"),
    "approved": _l("Approved"),
    "published": _l("Published"),
    "rejected": _l("Rejected"),
    "quote_requested": _l("Quote requested"),
    "quoted": _l("Quoted"),
    "accepted": _l("Accepted"),
    "deposit_paid": _l("Deposit paid"),
    "allocated": _l("Allocated"),
    "collected": _l("Collected from cooperatives"),
    "dehaired_tested": _l("Dehaired and tested"),
    "shipped": _l("Shipped"),
    "delivered": _l("Delivered"),
    "cancelled": _l("Cancelled"),
    # Products
    "none": _l("None"),
    "scouring": _l("Scouring"),
    "dehairing": _l("Dehairing"),
    "spinning": _l("Spinning"),
    "dyeing": _l("Dyeing"),
    "knitting": _l("Knitting"),
    "weaving": _l("Weaving"),
    "finishing": _l("Finishing"),
    "pre_consumer": _l("Pre-consumer recycled"),
    "post_consumer": _l("Post-consumer recycled"),
    "take_back": _l("Take-back"),
    "repair": _l("Repair"),
    "resale": _l("Resale"),
    "measured": _l("Measured"),
    "declared": _l("Declared"),
    "estimated": _l("Estimated"),
    # Orders, quotes, allocations and payments
    "requested": _l("Requested"),
    "declined": _l("Declined"),
    "sent": _l("Sent"),
    "held": _l("Held"),
    "firm": _l("Firm"),
    "released": _l("Released"),
    "proposed": _l("Proposed"),
    "confirmed": _l("Confirmed"),
    "adjusted": _l("Adjusted"),
    "pending": _l("Pending"),
    "succeeded": _l("Succeeded"),
    "failed": _l("Failed"),
    "refunded": _l("Refunded"),
    "paid": _l("Paid"),
    "to_pack": _l("To pack"),
    "scheduled": _l("Scheduled"),
    "closed": _l("Closed"),
    "deposit": _l("Deposit"),
    "purchase": _l("Purchase"),
    "refund": _l("Refund"),
    "reservation_expired": _l("The reservation expired before the deposit was paid."),
    "deposit_refunded": _l("Deposit refunded by the Union."),
    "payment_refunded": _l("Payment refunded by the Union."),
    "bank_transfer_recorded": _l("Bank transfer received, recorded by the Union."),
    "balance": _l("Balance"),
    "final": _l("Final invoice"),
    "credit_note": _l("Credit note"),
    "change_proposed": _l("Change proposed to the buyer"),
    "change_accepted": _l("Change accepted by the buyer"),
    "change_rejected": _l("Change rejected by the buyer"),
    "no_matching_lot": _l("No lot meets the specification"),
    "no_stock": _l("No unreserved stock"),
    "stock_below_minimum_shipment": _l("Stock below the minimum shipment"),
    "no_members_or_capacity": _l("No members or declared capacity"),
    "share_below_minimum_shipment": _l("Share would be below the minimum shipment"),
    "kept_below_minimum_to_fill_order": _l("Below the minimum shipment, kept to fill the order"),
    "lots_chosen_by_buyer": _l("Lots and kg chosen by the buyer"),
}


def label(value: Any) -> str:
    key = getattr(value, "value", value)
    return str(LABELS.get(str(key), key))


def request_translations() -> Any:
    """The current locale's translations, as Flask-Babel's ``get_translations`` gives them, remembered on its
    request context while the locale (and domain) stay the same objects: Flask-Babel looks them up again on
    every call (about 15 µs: several context lookups and the locale's name), and a passport page makes about
    a hundred. ``force_locale`` and ``refresh`` replace the locale object, so the next call looks again."""
    try:
        context = g._flask_babel
    except (AttributeError, RuntimeError):  # no lookup yet in this context, or no application context
        return get_translations()
    locale, domain = getattr(context, "babel_locale", None), getattr(context, "babel_domain", None)
    remembered = getattr(context, "marketplace_translations", None)
    if remembered is not None and locale is not None and remembered[0] is locale and remembered[1] is domain:
        return remembered[2]
    translations = get_translations()
    locale = getattr(context, "babel_locale", None)  # chosen by that call when it was not yet
    if locale is not None:
        context.marketplace_translations = (locale, getattr(context, "babel_domain", None), translations)
    return translations


def _install_template_gettext(app: Flask) -> None:
    """The templates' ``_``/``gettext`` family through ``request_translations`` (Flask-Babel installs the same
    callables, each looking the translations up from scratch)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined] (added by jinja2.ext.i18n)
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )


def init_app(app: Flask) -> None:
    app.after_request(_remember_choice)
    _install_template_gettext(app)
    app.jinja_env.filters.update(money=money, number=number, unit=with_unit, label=label, significant=significant,
                                 converted=converted)
    app.jinja_env.globals.update(
        switch_url=switch_url, LANGUAGE_NAMES=LANGUAGE_NAMES, current_locale=lambda: str(get_locale()),
        fx_rate=lambda code: fx_rates()[code],
    )
