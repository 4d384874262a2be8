"""Union staff: answer quotes, review, adjust and confirm allocations, move orders on, refund."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.forms_common import int_arg
from marketplace.funds.services import FundsError
from marketplace.i18n import label, money
from marketplace.money import from_minor, to_minor
from marketplace.orders import rules, services
from marketplace.orders.forms import (
    AcceptForm,
    AdjustForm,
    BankTransferForm,
    DeclineForm,
    NoteForm,
    PremiumPaymentForm,
    QuoteForm,
    RefundForm,
    ShippingForm,
)
from marketplace.orders.models import Order, OrderStage, QuoteRequest, SampleRequest
from marketplace.payments import services as payments
from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.models import Payment
from marketplace.union import charts as union_charts
from marketplace.union import services as union_services

bp = Blueprint("union", __name__, url_prefix="/union")
STAFF = (Role.union_staff, Role.admin)


@bp.route("/quotes")
@roles(*STAFF)
def quotes():  # type: ignore[no-untyped-def]
    return render_template("union/quotes.html", requests=services.open_quote_requests(),
                           samples=services.open_samples())


@bp.route("/samples/<int:sample_id>/sent", methods=["POST"])
@roles(*STAFF)
def sample_sent(sample_id: int):  # type: ignore[no-untyped-def]
    if not AcceptForm().validate_on_submit():
        abort(400)
    sample = db.session.get(SampleRequest, sample_id)
    if sample is None:
        abort(404)
    try:
        services.mark_sample_sent(sample)
    except services.OrderError as error:
        flash(str(error.message), "error")
        return redirect(url_for("union.quotes")), 303
    flash(_("Sample of lot %(code)s marked as sent.", code=sample.lot.code), "success")
    return redirect(url_for("union.quotes"))


def _quote_request(quote_id: int) -> QuoteRequest:
    found = db.session.get(QuoteRequest, quote_id)
    if found is None:
        abort(404)
    return found


def _quote_page(qr: QuoteRequest, quote_form: QuoteForm, decline_form: DeclineForm, status: int = 200,
                error: str | None = None):  # type: ignore[no-untyped-def]
    lots = services.matching_lots(services.spec_of(qr), services.request_lot_ids(qr))
    minimums = [m for m in (rules.minimum_price(lot, qr.currency)[0] for lot in lots) if m is not None]
    return render_template("union/quote.html", qr=qr, quote_form=quote_form, decline_form=decline_form,
                           lots=lots, free_kg=sum((lot.available_kg for lot in lots), Decimal(0)),
                           floor_minor=max(minimums) if minimums else None, error=error), status


@bp.route("/quotes/<int:quote_id>")
@roles(*STAFF)
def quote(quote_id: int):  # type: ignore[no-untyped-def]
    qr = _quote_request(quote_id)
    form = QuoteForm()
    if qr.lot is not None:
        form.price.data = from_minor(qr.lot.price_minor, qr.lot.currency)
        form.premium.data = from_minor(qr.lot.premium_minor, qr.lot.currency)
        form.deposit_pct.data = int(qr.lot.deposit_pct)
        form.valid_until.data = qr.lot.price_valid_until
    return _quote_page(qr, form, DeclineForm())


@bp.route("/quotes/<int:quote_id>/answer", methods=["POST"])
@roles(*STAFF)
def answer(quote_id: int):  # type: ignore[no-untyped-def]
    qr = _quote_request(quote_id)
    form = QuoteForm()
    form.currency_code = qr.currency
    if not form.validate_on_submit():
        return _quote_page(qr, form, DeclineForm(formdata=None), 422)
    try:
        services.answer_quote(qr, staff=current_user, price_minor=to_minor(form.price.data, qr.currency),
                              premium_minor=to_minor(form.premium.data, qr.currency), valid_until=form.valid_until.data,
                              deposit_pct=form.deposit_pct.data, note=form.note.data or "")
    except services.OrderError as error:
        return _quote_page(qr, form, DeclineForm(formdata=None), error.status, str(error.message))
    flash(_("Quote sent to %(buyer)s.", buyer=qr.buyer.name), "success")
    return redirect(url_for("union.quotes"))


@bp.route("/quotes/<int:quote_id>/decline", methods=["POST"])
@roles(*STAFF)
def decline(quote_id: int):  # type: ignore[no-untyped-def]
    qr = _quote_request(quote_id)
    form = DeclineForm()
    if not form.validate_on_submit():
        return _quote_page(qr, QuoteForm(formdata=None), form, 422)
    try:
        services.decline_quote(qr, staff=current_user, reason=form.reason.data or "")
    except services.OrderError as error:
        return _quote_page(qr, QuoteForm(formdata=None), form, error.status, str(error.message))
    flash(_("Request declined; the buyer sees your reason."), "success")
    return redirect(url_for("union.quotes"))


def _order(reference: str) -> Order:
    order = db.session.scalar(select(Order).where(Order.reference == reference[:30]))
    if order is None:
        abort(404)
    return order


def _shipping_form(order: Order, formdata: bool = False) -> ShippingForm:
    if formdata:
        return ShippingForm()
    return ShippingForm(formdata=None, carrier=order.carrier, tracking_number=order.tracking_number,
                        shipped_on=order.shipped_on, expected_on=order.expected_on)


def _order_page(order: Order, status: int = 200, error: str | None = None, adjust: AdjustForm | None = None,  # type: ignore[no-untyped-def]
                **forms: object):
    supply, households = services.supply(order)
    order_payments = db.session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)).all()
    shares = order.allocation.shares if order.allocation else []
    names = {str(s.cooperative_id): s.cooperative.name for s in shares}
    transfer = BankTransferForm(formdata=None)
    transfer.currency_code = order.currency
    context = {"shipping_form": _shipping_form(order), "transfer_form": transfer,
               "refund_form": RefundForm(formdata=None), **forms}
    return render_template(
        "union/order.html", order=order, names=names, stages=services.tracking(order), supply=supply,
        households=households,
        kg=services.order_kg(order), payments=order_payments, form=AcceptForm(), adjust=adjust or AdjustForm(),
        note_form=NoteForm(), error=error, paid_minor=payments.paid_minor(order),
        outstanding_minor=payments.outstanding_minor(order), invoices=payments.invoices(order),
        final_invoice=payments.final_invoice(order), explained=services.explain_allocation(order),
        pending_change=services.pending_change(order), **context,
    ), status


@bp.route("/orders")
@roles(*STAFF)
def orders():  # type: ignore[no-untyped-def]
    """Every order, of every stage: filter by stage, search by reference or buyer."""
    raw = request.args.get("stage", "")
    if raw and raw not in OrderStage.__members__:
        abort(400, description=_("Unknown stage %(stage)s.", stage=raw[:30]))
    stage = OrderStage(raw) if raw else None
    query = request.args.get("q", "")[:80]
    page = int_arg("page") or 1
    found, total = services.staff_orders(stage, query, page)
    pages = max(1, -(-total // services.STAFF_ORDERS_PER_PAGE))
    if page > pages:
        abort(404)
    rows = [(order, payments.paid_minor(order), payments.outstanding_minor(order)) for order in found]
    return render_template("union/orders.html", rows=rows, stage=stage, query=query, stages=list(OrderStage),
                           page=page, pages=pages, total=total)


@bp.route("/sales")
@roles(*STAFF)
def sales():  # type: ignore[no-untyped-def]
    """B2B revenue, deposits and balances outstanding, by season and cooperative."""
    rows, totals = payments.sales()
    return render_template("union/sales.html", rows=rows, totals=totals, consumer=payments.consumer_sales())


@bp.route("/charts")
@roles(*STAFF)
def charts():  # type: ignore[no-untyped-def]
    """Stock, sales and premiums drawn as charts, each with its numbers in a table."""
    return render_template("union/charts.html", stock=union_charts.stock(), sales=union_charts.sales(),
                           premiums=union_charts.premiums())


@bp.route("/orders/<reference>/shipping", methods=["POST"])
@roles(*STAFF)
def shipping(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    form = ShippingForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _order_page(order, 422, shipping_form=form)
    try:
        services.set_shipping(order, carrier=form.carrier.data or "", tracking_number=form.tracking_number.data or "",
                              shipped_on=form.shipped_on.data, expected_on=form.expected_on.data)
    except services.OrderError as error:
        db.session.rollback()
        return _order_page(_order(reference), error.status, str(error.message), shipping_form=form)
    flash(_("Shipping details saved."), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/orders/<reference>/invoice", methods=["POST"])
@roles(*STAFF)
def invoice(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    if not AcceptForm().validate_on_submit():
        abort(400)
    try:
        issued = payments.issue_final_invoice(order, staff=current_user)
    except services.OrderError as error:
        db.session.rollback()
        return _order_page(_order(reference), error.status, str(error.message))
    flash(_("Final invoice %(number)s issued for %(amount)s.", number=issued.number,
            amount=money(issued.amount_minor, issued.currency)), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/orders/<reference>/bank-transfer", methods=["POST"])
@roles(*STAFF)
def bank_transfer(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    form = BankTransferForm()
    form.currency_code = order.currency
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _order_page(order, 422, transfer_form=form)
    try:
        payments.record_bank_transfer(order, staff=current_user,
                                      amount_minor=to_minor(form.amount.data, order.currency),
                                      reference=form.reference.data or "", received_on=form.received_on.data)
    except services.OrderError as error:
        db.session.rollback()
        return _order_page(_order(reference), error.status, str(error.message), transfer_form=form)
    flash(_("Bank transfer recorded."), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/orders/<reference>")
@roles(*STAFF)
def order(reference: str):  # type: ignore[no-untyped-def]
    return _order_page(_order(reference))


@bp.route("/orders/<reference>/allocation", methods=["POST"])
@roles(*STAFF)
def adjust(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    form = AdjustForm()
    if not form.validate_on_submit():
        return _order_page(order, 422, adjust=form)
    kg_by_coop: dict[int, Decimal] = {}
    try:
        for share in order.allocation.shares if order.allocation else []:
            raw = request.form.get(f"share-{share.cooperative_id}", "").strip() or "0"
            value = Decimal(raw)
            if not value.is_finite() or value != value.quantize(Decimal("0.001")):
                raise InvalidOperation
            kg_by_coop[share.cooperative_id] = value
    except InvalidOperation:
        return _order_page(order, 422, _("Each share must be a number of kg."), form)
    try:
        services.propose_change(order, staff=current_user, kg_by_coop=kg_by_coop, reason=form.reason.data or "")
    except services.OrderError as error:
        db.session.rollback()
        return _order_page(_order(reference), error.status, str(error.message), form)
    flash(_("Change proposed to the buyer; it is made when the buyer accepts it."), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/orders/<reference>/confirm", methods=["POST"])
@roles(*STAFF)
def confirm(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    if not AcceptForm().validate_on_submit():
        abort(400)
    try:
        services.confirm_allocation(order, staff=current_user)
    except services.OrderError as error:
        return _order_page(order, error.status, str(error.message))
    flash(_("Allocation confirmed. The buyer now sees the order as allocated."), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/orders/<reference>/advance", methods=["POST"])
@roles(*STAFF)
def advance(reference: str):  # type: ignore[no-untyped-def]
    order = _order(reference)
    form = NoteForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        stage = services.advance(order, staff=current_user, note=form.note.data or "")
    except services.OrderError as error:
        return _order_page(order, error.status, str(error.message))
    flash(_("Order %(ref)s: %(stage)s.", ref=order.reference, stage=label(stage)), "success")
    return redirect(url_for("union.order", reference=order.reference))


@bp.route("/payments/<int:payment_id>/refund", methods=["POST"])
@roles(*STAFF)
def refund(payment_id: int):  # type: ignore[no-untyped-def]
    form = RefundForm()
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        if payment.order is not None:
            return _order_page(payment.order, 422, refund_form=form, refund_for=payment.id)
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("dashboard.index")), 303
    try:
        record = payments.refund(payment_id, staff=current_user, gateway=gateway(), reason=form.reason.data or "")
    except PaymentsUnavailableError as error:
        flash(_("Stripe could not refund the payment: %(reason)s. Nothing was changed.", reason=str(error)), "error")
        return redirect(request.referrer or url_for("union.quotes")), 303
    except services.OrderError as error:
        if error.status == 404:
            abort(404)
        flash(str(error.message), "error")
        return redirect(request.referrer or url_for("union.quotes")), 303
    flash(_("Refund %(ref)s recorded.", ref=record.provider_ref), "success")
    if record.order is not None:
        return redirect(url_for("union.order", reference=record.order.reference))
    return redirect(url_for("dashboard.index"))


def _premium_form() -> PremiumPaymentForm:
    form = PremiumPaymentForm()
    form.cooperative_id.choices = [SelectChoice(cid, name) for cid, name in union_services.cooperative_choices()]
    return form


def _season_page(form: PremiumPaymentForm, status: int = 200):  # type: ignore[no-untyped-def]
    years = services.seasons()
    year = int_arg("season") or years[0]
    if year not in years:
        abort(404, description=_("There are no allocations for the season %(year)s.", year=year))
    return render_template("union/season.html", rows=services.season_view(year), season=year, seasons=years,
                           premium_form=form, premiums=union_services.premiums()), status


@bp.route("/season")
@roles(*STAFF)
def season():  # type: ignore[no-untyped-def]
    return _season_page(_premium_form())


@bp.route("/premiums", methods=["POST"])
@roles(*STAFF)
def record_premium():  # type: ignore[no-untyped-def]
    form = _premium_form()
    if not form.validate_on_submit():
        return _season_page(form, 422)
    try:
        union_services.record_premium_payment(
            cooperative_id=form.cooperative_id.data, amount_minor=to_minor(form.amount.data, form.currency.data),
            currency=form.currency.data, paid_on=form.paid_on.data, staff=current_user, note=form.note.data or "",
            reference=form.reference.data or "", advance=form.advance.data,
        )
    except FundsError as exc:
        form.amount.errors = [*form.amount.errors, str(exc)]
        return _season_page(form, 422)
    flash(_("Premium payment recorded."), "success")
    return redirect(url_for("union.season"))
