"""An order's page (for its buyer and staff): tracking, money, invoices and the packing list as PDF, the
buyer's answer to a proposed change, and paying the deposit and the balance by card."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.access import roles
from marketplace.extensions import db
from marketplace.orders import documents, services
from marketplace.orders.forms import (
    AcceptForm,
)
from marketplace.orders.models import Order
from marketplace.orders.routes.common import (
    BUYER,
    STAFF,
    bp,
    buyer_order_or_404,
    order_for_current_user,
)
from marketplace.payments import services as payments
from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.routes import card_entry
from marketplace.security import stripe_js
from marketplace.urls import absolute_url


@bp.route("/orders/<reference>")
@roles(BUYER, *STAFF)
def detail(reference: str):  # type: ignore[no-untyped-def]
    order = order_for_current_user(reference)
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

    order = order_for_current_user(reference)
    invoice = next((i for i in payments.invoices(order) if i.number == number[:20]), None)
    if invoice is None:
        abort(404)
    paid = payments.paid_minor(order)
    return documents.pdf_response(lambda: documents.invoice(invoice, order, paid), f"{invoice.number}.pdf")


@bp.route("/orders/<reference>/packing-list.pdf")
@roles(BUYER, *STAFF)
def packing_list(reference: str):  # type: ignore[no-untyped-def]

    order = order_for_current_user(reference)
    if not order.lines or order.allocation is None or order.allocation.status.value != "confirmed":
        abort(404, description=_("The packing list exists once the allocation is confirmed."))
    return documents.pdf_response(lambda: documents.packing_list(order), f"packing-list-{order.reference}.pdf")


@bp.route("/orders/<reference>/change", methods=["POST"])
@roles(BUYER)
def answer_change(reference: str):  # type: ignore[no-untyped-def]
    """The buyer accepts or rejects a change the Union proposed to the order's lots."""
    order = buyer_order_or_404(reference)
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
    order = buyer_order_or_404(reference)
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
    order = buyer_order_or_404(reference)
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
    order = buyer_order_or_404(reference)
    payment = payments.deposit_payment(order)
    if payment is None:
        return redirect(url_for("orders.detail", reference=order.reference))
    return _pay(order, payment, None,
                _("Payment sent. The order moves to \u201cdeposit paid\u201d as soon as Stripe confirms it."))
