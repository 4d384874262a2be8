"""Buyers: samples, quote requests, acceptance, order tracking and the deposit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from babel.dates import format_date, format_datetime, get_timezone_name
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.db import BUSINESS_TZ
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, LotStatus, PriceBasis
from marketplace.money import to_minor
from marketplace.orders import documents, services
from marketplace.orders.forms import (
    AcceptForm,
    BuyerDeclineForm,
    CounterOfferForm,
    QuoteRequestForm,
    ReviewedAcceptForm,
    SampleForm,
    lots_quote_form,
)
from marketplace.orders.models import Order
from marketplace.payments import services as payments
from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.routes import card_entry
from marketplace.security import stripe_js
from marketplace.urls import absolute_url

bp = Blueprint("orders", __name__)

BUYER = Role.brand_buyer
STAFF = (Role.union_staff, Role.admin)
# Pages on which expired reservations are released before anything is shown ("check on read").
CHECK_ON_READ = {"lots.index", "lots.detail", "dashboard.index"}


@bp.before_app_request
def release_expired_on_read() -> None:
    endpoint = request.endpoint or ""
    if endpoint in CHECK_ON_READ or endpoint.startswith(("orders.", "union.")):
        services.release_expired()


@bp.app_template_filter("zoned")
def zoned(value: Any) -> str:
    """A date and time, or a date (a deadline: the end of that day), in the Union's time zone, naming it."""
    if value is None:
        return ""
    locale = get_locale() or "en"
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return format_datetime(moment, "medium", tzinfo=BUSINESS_TZ, locale=locale) + " (" + get_timezone_name(
            moment.astimezone(BUSINESS_TZ), locale=locale) + ")"
    noon = dt.datetime.combine(value, dt.time(12), BUSINESS_TZ)
    return format_date(value, "medium", locale=locale) + " (" + get_timezone_name(noon, locale=locale) + ")"


@bp.app_context_processor
def inject_form_id() -> dict[str, Any]:
    return {"new_form_id": lambda: uuid.uuid4().hex}


def _buyer_ids() -> set[int]:
    return current_user.organisation_ids(BUYER)


def _buyer_id() -> int:
    ids = sorted(_buyer_ids())
    if not ids:
        abort(403)
    return ids[0]


def _listed_lot(code: str) -> Lot:
    lot = db.session.scalar(select(Lot).where(Lot.code == code[:40], Lot.status == LotStatus.listed))
    if lot is None:
        abort(404, description=_("There is no listed lot with the id %(code)s.", code=code[:40]))
    return lot


def _error(error: services.OrderError, template: str, **context: Any) -> tuple[str, int]:
    return render_template(template, error=str(error.message), **context), error.status


@bp.route("/lots/<code>/sample", methods=["POST"])
@roles(BUYER)
def request_sample(code: str):  # type: ignore[no-untyped-def]
    lot = _listed_lot(code)
    form = SampleForm()
    if not form.validate_on_submit():
        return render_template("orders/sample.html", lot=lot, form=form), 422
    try:
        services.request_sample(lot=lot, buyer_id=_buyer_id(), user=current_user, address=form.address.data or "",
                                form_id=form.form_id.data or "")
    except services.OrderError as error:
        db.session.rollback()
        form.address.errors = [*form.address.errors, str(error.message)]
        return render_template("orders/sample.html", lot=lot, form=form), error.status
    flash(_("Your sample request for lot %(code)s has been sent to the Union.", code=lot.code), "success")
    return redirect(url_for("orders.my_quotes"))


def _quote_input(form: QuoteRequestForm, lots: list[services.LotChoice]) -> services.QuoteInput:
    on_spec = not lots
    return services.QuoteInput(
        kg=form.kg.data, incoterm=Incoterm(form.incoterm.data), incoterm_place=form.incoterm_place.data or "",
        currency=form.currency.data or "", lots=tuple(lots),
        max_micron=form.max_micron.data if on_spec else None,
        colour=Colour(form.colour.data) if on_spec and form.colour.data else None,
        min_length_mm=form.min_length_mm.data if on_spec else None,
        max_hair_pct=form.max_hair_pct.data if on_spec else None,
        state=FibreState(form.fibre_state.data) if on_spec and form.fibre_state.data else None,
        basis=PriceBasis(form.price_basis.data) if on_spec and form.price_basis.data else None,
        season=form.season.data if on_spec else None, tier=(form.tier.data or None) if on_spec else None,
        message=form.message.data or "",
    )


def _show_errors(form: QuoteRequestForm, error: services.OrderError) -> None:
    errors = error.errors if isinstance(error, services.QuoteInputError) else {error.field: [error.message]}
    for name, messages in errors.items():
        target = form._fields.get(name, form.kg)
        target.errors = [*target.errors, *(str(m) for m in messages)]


def _send_quote_request(form: QuoteRequestForm, choices: list[services.LotChoice], template: str, **context: Any):  # type: ignore[no-untyped-def]
    try:
        services.request_quote(buyer_id=_buyer_id(), user=current_user, data=_quote_input(form, choices),
                               form_id=form.form_id.data or "")
    except services.OrderError as error:
        db.session.rollback()
        _show_errors(form, error)
        return render_template(template, form=form, **context), error.status
    flash(_("Your quote request has been sent. The Union will answer it here."), "success")
    return redirect(url_for("orders.my_quotes"))


def _quote_form_page(lot: Lot | None):  # type: ignore[no-untyped-def]
    form = QuoteRequestForm()
    if request.method == "GET" and lot is not None:
        form.kg.data = lot.min_order_kg
        form.incoterm.data = lot.incoterm.value
        form.incoterm_place.data = lot.incoterm_place
        form.currency.data = lot.currency if lot.currency in services.CURRENCIES else "EUR"
    if form.validate_on_submit():
        return _send_quote_request(form, [services.LotChoice(lot.code)] if lot else [],
                                   "orders/quote_request.html", lot=lot)
    status = 422 if form.is_submitted() else 200
    return render_template("orders/quote_request.html", form=form, lot=lot), status


@bp.route("/lots/<code>/quote", methods=["GET", "POST"])
@roles(BUYER)
def request_lot_quote(code: str):  # type: ignore[no-untyped-def]
    return _quote_form_page(_listed_lot(code))


@bp.route("/quotes/lots", methods=["GET", "POST"])
@roles(BUYER)
def request_lots_quote():  # type: ignore[no-untyped-def]
    """One quote request on several chosen lots (``?code=…&code=…``, e.g. from the lot comparison)."""
    source = request.form if request.method == "POST" else request.args
    codes = [c.strip()[:40] for c in source.getlist("code") if c.strip()][: services.MAX_QUOTE_LOTS + 1]
    form = lots_quote_form(codes)
    known = {lot.code: lot for lot in db.session.scalars(select(Lot).where(Lot.code.in_(codes)))}
    lots = [(index, code, known.get(code)) for index, code in enumerate(codes)]
    context = {"lots": lots, "codes": codes}
    if request.method == "GET" and known:
        first = known[codes[0]] if codes[0] in known else next(iter(known.values()))
        form.incoterm.data = first.incoterm.value
        form.incoterm_place.data = first.incoterm_place
        form.currency.data = first.currency if first.currency in services.CURRENCIES else "EUR"
    if request.method == "POST" and not codes:
        form.validate_on_submit()
        form.kg.errors = [*form.kg.errors, _("Choose at least one lot.")]
        return render_template("orders/quote_lots.html", form=form, **context), 422
    if form.validate_on_submit():
        choices = [services.LotChoice(code, form[f"lots-{index}-kg"].data) for index, code in enumerate(codes)]
        return _send_quote_request(form, choices, "orders/quote_lots.html", **context)
    status = 422 if form.is_submitted() else 200
    return render_template("orders/quote_lots.html", form=form, **context), status


@bp.route("/quotes/new", methods=["GET", "POST"])
@roles(BUYER)
def request_spec_quote():  # type: ignore[no-untyped-def]
    return _quote_form_page(None)


@bp.route("/quotes")
@roles(BUYER)
def my_quotes():  # type: ignore[no-untyped-def]
    ids = _buyer_ids()
    return render_template("orders/quotes.html", requests=services.buyer_quote_requests(ids),
                           samples=services.buyer_samples(ids), form=AcceptForm())


def _own_request(quote_id: int):  # type: ignore[no-untyped-def]
    found = services.buyer_quote_request(quote_id, _buyer_ids())
    if found is None:
        abort(404)
    return found


def _quote_page(qr, form: ReviewedAcceptForm | None = None, status: int = 200, error: str | None = None,  # type: ignore[no-untyped-def]
                counter: CounterOfferForm | None = None):
    if counter is None:
        counter = CounterOfferForm(formdata=None, kg=qr.kg)
        counter.currency_code = qr.currency
    return render_template("orders/quote.html", qr=qr, summary=services.quote_summary(qr),
                           form=form or ReviewedAcceptForm(), decline_form=BuyerDeclineForm(formdata=None),
                           counter_form=counter, error=error), status


@bp.route("/quotes/<int:quote_id>/counter", methods=["POST"])
@roles(BUYER)
def counter(quote_id: int):  # type: ignore[no-untyped-def]
    """A counter-offer: other kg, perhaps a price; the quote is declined and a new request goes to the Union."""

    qr = _own_request(quote_id)
    form = CounterOfferForm()
    form.currency_code = qr.currency
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _quote_page(qr, status=422, counter=form)
    try:
        created = services.counter_offer(
            quote_id, buyer_ids=_buyer_ids(), user=current_user, kg=form.kg.data,
            price_minor=to_minor(form.price.data, qr.currency) if form.price.data is not None else None,
            message=form.message.data or "", form_id=form.form_id.data or "")
    except services.OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404)
        if isinstance(error, services.QuoteInputError):
            _show_errors(form, error)  # type: ignore[arg-type]
            return _quote_page(_own_request(quote_id), status=error.status, counter=form)
        return _quote_page(_own_request(quote_id), status=error.status, counter=form, error=str(error.message))
    flash(_("Your counter-offer has been sent to the Union as request #%(id)s.", id=created.id), "success")
    return redirect(url_for("orders.my_quotes"))


@bp.route("/quotes/<int:quote_id>")
@roles(BUYER)
def quote(quote_id: int):  # type: ignore[no-untyped-def]
    """The quote as a document, and the reviewed step to accept it."""
    return _quote_page(_own_request(quote_id))


@bp.route("/quotes/<int:quote_id>.pdf")
@roles(BUYER)
def quote_pdf(quote_id: int):  # type: ignore[no-untyped-def]

    qr = _own_request(quote_id)
    summary = services.quote_summary(qr)
    if summary is None:
        abort(404, description=_("The Union has not answered this request yet."))
    return documents.pdf_response(lambda: documents.proforma(summary), f"proforma-{qr.id}.pdf")


@bp.route("/quotes/<int:quote_id>/accept", methods=["POST"])
@roles(BUYER)
def accept(quote_id: int):  # type: ignore[no-untyped-def]
    form = ReviewedAcceptForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _quote_page(_own_request(quote_id), form, 422)
    hold = current_app.config.get("RESERVATION_HOLD")
    try:
        order = services.accept_quote(quote_id, buyer_ids=_buyer_ids(), user=current_user,
                                      **({"hold": hold} if hold else {}))
    except services.OrderError as error:
        db.session.rollback()  # show the quote as it is, not as the failed attempt left it
        if error.status == 404:
            abort(404)
        return _quote_page(_own_request(quote_id), ReviewedAcceptForm(formdata=None), error.status,
                           str(error.message))
    flash(_("Quote accepted: order %(ref)s is reserved for you.", ref=order.reference), "success")
    return redirect(url_for("orders.detail", reference=order.reference))


@bp.route("/quotes/<int:quote_id>/decline", methods=["POST"])
@roles(BUYER)
def decline(quote_id: int):  # type: ignore[no-untyped-def]
    form = BuyerDeclineForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _quote_page(_own_request(quote_id), status=422)
    try:
        services.decline_by_buyer(quote_id, buyer_ids=_buyer_ids(), reason=form.reason.data or "")
    except services.OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404)
        return _quote_page(_own_request(quote_id), status=error.status, error=str(error.message))
    flash(_("You declined the quote. The Union has been told."), "success")
    return redirect(url_for("orders.my_quotes"))


def _order_for_current_user(reference: str) -> Order:
    if current_user.has_role(*STAFF):
        order = db.session.scalar(select(Order).where(Order.reference == reference[:30]))
    else:
        order = services.buyer_order(reference[:30], _buyer_ids())
    if order is None:
        abort(404)
    return order


@bp.route("/orders/<reference>")
@roles(BUYER, *STAFF)
def detail(reference: str):  # type: ignore[no-untyped-def]
    order = _order_for_current_user(reference)
    supply, households = services.supply(order)
    # htmx polls the status while a payment awaits Stripe's confirmation: the fragment only.
    template = "orders/_status.html" if request.headers.get("HX-Request") else "orders/detail.html"
    return render_template(
        template, order=order, stages=services.tracking(order), supply=supply, households=households,
        reservations=services.active_reservations(order), kg=services.order_kg(order),
        deposit=payments.deposit_payment(order), deposit_minor=payments.deposit_minor(order),
        payments_available=gateway().available, form=AcceptForm(), **_money_context(order),
    ), {"Vary": "HX-Request"}


def _money_context(order: Order) -> dict[str, Any]:
    """What an order page shows of its money at every stage: paid, outstanding, invoices, the balance."""
    change = services.pending_change(order)
    names = {str(s.cooperative_id): s.cooperative.name for s in (order.allocation.shares if order.allocation else [])}
    return {"paid_minor": payments.paid_minor(order), "outstanding_minor": payments.outstanding_minor(order),
            "pending_change": change, "names": names,
            "invoices": payments.invoices(order), "final_invoice": payments.final_invoice(order),
            "balance": payments.balance_payment(order)}


@bp.route("/orders/<reference>/invoices/<number>.pdf")
@roles(BUYER, *STAFF)
def invoice_pdf(reference: str, number: str):  # type: ignore[no-untyped-def]

    order = _order_for_current_user(reference)
    invoice = next((i for i in payments.invoices(order) if i.number == number[:20]), None)
    if invoice is None:
        abort(404)
    paid = payments.paid_minor(order)
    return documents.pdf_response(lambda: documents.invoice(invoice, order, paid), f"{invoice.number}.pdf")


@bp.route("/orders/<reference>/packing-list.pdf")
@roles(BUYER, *STAFF)
def packing_list(reference: str):  # type: ignore[no-untyped-def]

    order = _order_for_current_user(reference)
    if not order.lines or order.allocation is None or order.allocation.status.value != "confirmed":
        abort(404, description=_("The packing list exists once the allocation is confirmed."))
    return documents.pdf_response(lambda: documents.packing_list(order), f"packing-list-{order.reference}.pdf")


@bp.route("/orders/<reference>/change", methods=["POST"])
@roles(BUYER)
def answer_change(reference: str):  # type: ignore[no-untyped-def]
    """The buyer accepts or rejects a change the Union proposed to the order's lots."""
    order = services.buyer_order(reference[:30], _buyer_ids())
    if order is None:
        abort(404)
    if not AcceptForm().validate_on_submit():
        abort(400)
    answer = request.form.get("answer", "")
    if answer not in ("accept", "reject"):
        flash(_("Choose to accept or to reject the change."), "error")
        return redirect(url_for("orders.detail", reference=order.reference)), 303
    try:
        services.answer_change(order, buyer=current_user, accept=answer == "accept")
    except services.OrderError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("orders.detail", reference=reference[:30])), 303
    flash(_("Change accepted: the order now takes these lots.") if answer == "accept"
          else _("Change rejected: the order stays as it was."), "success")
    return redirect(url_for("orders.detail", reference=order.reference))


def _start_card_payment(reference: str, start: Any, pay_endpoint: str):  # type: ignore[no-untyped-def]
    """Start a card payment (deposit or balance) on the buyer's own order, then go to the card page."""
    order = services.buyer_order(reference[:30], _buyer_ids())
    if order is None:
        abort(404)
    if not AcceptForm().validate_on_submit():
        abort(400)
    try:
        gateway().register_local_webhook(absolute_url("payments.stripe_webhook"))
        start(order, gateway())
    except PaymentsUnavailableError:
        flash(_("Payments are unavailable at the moment. Nothing was charged; please try again later."), "error")
        return redirect(url_for("orders.detail", reference=order.reference)), 303
    except services.OrderError as error:
        flash(str(error.message), "error")
        return redirect(url_for("orders.detail", reference=order.reference)), 303
    return redirect(url_for(pay_endpoint, reference=order.reference))


@bp.route("/orders/<reference>/balance", methods=["POST"])
@roles(BUYER)
def start_balance(reference: str):  # type: ignore[no-untyped-def]
    return _start_card_payment(reference, payments.start_balance, "orders.pay_balance")


@bp.route("/orders/<reference>/balance/pay", methods=["GET", "POST"])
@stripe_js
@roles(BUYER)
def pay_balance(reference: str):  # type: ignore[no-untyped-def]
    order = services.buyer_order(reference[:30], _buyer_ids())
    if order is None:
        abort(404)
    payment = payments.balance_payment(order)
    if payment is None:
        abort(404, description=_("No card payment of the balance has been started for this order."))
    return _pay(order, payment, _("Pay the balance of order %(ref)s", ref=order.reference),
                _("Payment sent. The order page shows it as soon as Stripe confirms it."))


def _pay(order: Order, payment: Any, title: str | None, sent: str):  # type: ignore[no-untyped-def]
    """The card page of a started payment; a POST pays with the test card (test mode only)."""
    form = AcceptForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            gateway().pay_with_test_card(payment.provider_ref or "")
        except PaymentsUnavailableError as error:
            flash(_("The payment did not go through: %(reason)s", reason=str(error)), "error")
            return render_template("payments/pay.html", order=order, payment=payment, form=form,
                                   gateway=gateway(), title=title), 502
        flash(sent, "success")
        return redirect(url_for("orders.detail", reference=order.reference))
    return render_template("payments/pay.html", order=order, payment=payment, form=form, gateway=gateway(),
                           title=title, **card_entry(payment, gateway()))


@bp.route("/orders/<reference>/deposit", methods=["POST"])
@roles(BUYER)
def start_deposit(reference: str):  # type: ignore[no-untyped-def]
    return _start_card_payment(reference, payments.start_deposit, "orders.pay_deposit")


@bp.route("/orders/<reference>/pay", methods=["GET", "POST"])
@stripe_js
@roles(BUYER)
def pay_deposit(reference: str):  # type: ignore[no-untyped-def]
    order = services.buyer_order(reference[:30], _buyer_ids())
    if order is None:
        abort(404)
    payment = payments.deposit_payment(order)
    if payment is None:
        return redirect(url_for("orders.detail", reference=order.reference))
    return _pay(order, payment, None,
                _("Payment sent. The order moves to \u201cdeposit paid\u201d as soon as Stripe confirms it."))
