"""Buyers' samples and quotes: a sample request, quote requests (a lot, chosen lots, a specification),
the quote page and its PDF, accepting, declining or countering a quote."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from marketplace.access import roles
from marketplace.extensions import db
from marketplace.lots.models import Colour, FibreState, Incoterm, Lot, PriceBasis
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
from marketplace.orders.routes.common import BUYER, bp, buyer_organisation_id, buyer_organisation_ids, listed_lot


@bp.route("/lots/<code>/sample", methods=["POST"])
@roles(BUYER)
def request_sample(code: str):  # type: ignore[no-untyped-def]
    lot = listed_lot(code)
    form = SampleForm()
    if not form.validate_on_submit():
        return render_template("orders/sample.html", lot=lot, form=form), 422
    try:
        services.request_sample(lot=lot, buyer_id=buyer_organisation_id(), user=current_user,
                                address=form.address.data or "", form_id=form.form_id.data or "")
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
        services.request_quote(buyer_id=buyer_organisation_id(), user=current_user, data=_quote_input(form, choices),
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
    return _quote_form_page(listed_lot(code))


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
    ids = buyer_organisation_ids()
    return render_template("orders/quotes.html", requests=services.buyer_quote_requests(ids),
                           samples=services.buyer_samples(ids), form=AcceptForm())


def _own_request(quote_id: int):  # type: ignore[no-untyped-def]
    found = services.buyer_quote_request(quote_id, buyer_organisation_ids())
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
            quote_id, buyer_ids=buyer_organisation_ids(), user=current_user, kg=form.kg.data,
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
        order = services.accept_quote(quote_id, buyer_ids=buyer_organisation_ids(), user=current_user,
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
        services.decline_by_buyer(quote_id, buyer_ids=buyer_organisation_ids(), reason=form.reason.data or "")
    except services.OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404)
        return _quote_page(_own_request(quote_id), status=error.status, error=str(error.message))
    flash(_("You declined the quote. The Union has been told."), "success")
    return redirect(url_for("orders.my_quotes"))
