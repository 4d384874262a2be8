"""Refunds of some of a parcel's lines (a consumer returned one of two sweaters) and a failed refund tried again,
from the MSME's inbox (its own parcels) and the Union's list (any parcel). Both go through the one rule,
``services.plan_refund`` (``refund_lines``, ``retry_refund``)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.i18n import label, money
from marketplace.orders.forms import FORM_ID
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.routes.common import bp, msme_ids

STAFF = (Role.union_staff, Role.admin)


class RefundLinesForm(FlaskForm):
    """The units that came back (``qty-<line id>`` fields, read by ``services.parse_quantities``)."""

    form_id = HiddenField(**FORM_ID)
    restock = BooleanField(_l("Put the returned items back in stock (checked: fit to sell again)"))


class RetryForm(FlaskForm):
    pass


def _refused(error: Exception, back: str):  # type: ignore[no-untyped-def]
    db.session.rollback()
    if isinstance(error, PaymentsUnavailableError):
        flash(_("Stripe could not make the refund: %(reason)s. Nothing was changed.", reason=str(error)), "error")
        return redirect(back), 303
    assert isinstance(error, OrderError)
    if error.status == 404:
        abort(404, description=str(error.message))
    flash(str(error.message), "error")
    return redirect(back), 303


def _refund_lines(shipment_id: int, organisation_ids: list[int] | None, back: str):  # type: ignore[no-untyped-def]
    form = RefundLinesForm()
    if not form.validate_on_submit():
        flash(_("The form has expired: open the orders page again."), "error")
        return redirect(back), 303
    try:
        shipment = services.shipment_of(shipment_id, organisation_ids)
        quantities = services.parse_quantities(request.form)
        refund = services.refund_lines(shipment, quantities, gateway=gateway(), request_key=form.form_id.data or "",
                                       restock=bool(form.restock.data))
    except (OrderError, PaymentsUnavailableError) as error:
        return _refused(error, back)
    flash(_("Order %(ref)s: %(amount)s refunded to the consumer's card for the items returned.",
            ref=shipment.order.reference, amount=money(refund.amount_minor, refund.currency)), "success")
    return redirect(back), 303


def _retry(refund_id: int, organisation_ids: list[int] | None, back: str):  # type: ignore[no-untyped-def]
    if not RetryForm().validate_on_submit():
        flash(_("The form has expired: open the orders page again."), "error")
        return redirect(back), 303
    try:
        failed = services.refund_of(refund_id, organisation_ids)
        refund = services.retry_refund(failed, gateway=gateway())
    except (OrderError, PaymentsUnavailableError) as error:
        return _refused(error, back)
    flash(_("Order %(ref)s: the refund of %(amount)s was sent to Stripe again (%(status)s).",
            ref=failed.shipment.order.reference, amount=money(refund.amount_minor, refund.currency),
            status=label(refund.status)), "success")
    return redirect(back), 303


@bp.route("/workspace/orders/<int:shipment_id>/refund-lines", methods=["POST"])
@roles(Role.msme_editor)
def refund_lines(shipment_id: int):  # type: ignore[no-untyped-def]
    return _refund_lines(shipment_id, msme_ids(), url_for("payments.inbox"))


@bp.route("/union/shop-orders/parcels/<int:shipment_id>/refund-lines", methods=["POST"])
@roles(*STAFF)
def union_refund_lines(shipment_id: int):  # type: ignore[no-untyped-def]
    return _refund_lines(shipment_id, None, url_for("payments.union_shop_orders"))


@bp.route("/workspace/orders/refunds/<int:refund_id>/retry", methods=["POST"])
@roles(Role.msme_editor)
def retry_refund(refund_id: int):  # type: ignore[no-untyped-def]
    return _retry(refund_id, msme_ids(), url_for("payments.inbox"))


@bp.route("/union/shop-orders/refunds/<int:refund_id>/retry", methods=["POST"])
@roles(*STAFF)
def union_retry_refund(refund_id: int):  # type: ignore[no-untyped-def]
    return _retry(refund_id, None, url_for("payments.union_shop_orders"))
