"""A consumer order after payment: the consumer's page (a signed link), the MSME's inbox and the Union's
list, parcel by parcel (ship, deliver, cancel or accept a return with its refund)."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional

from marketplace.access import public, roles
from marketplace.accounts.models import Role
from marketplace.csv_export import to_csv
from marketplace.extensions import db
from marketplace.i18n import label, money
from marketplace.orders.services import OrderError
from marketplace.payments import services
from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.routes.common import bp, msme_ids


class CancelForm(FlaskForm):
    pass


@bp.route("/shop/orders/<token>")
@public
def consumer_order(token: str):  # type: ignore[no-untyped-def]
    """The consumer's order (number, items, shipments and tracking): reached by the signed link in the receipt."""
    order = services.order_by_token(token)
    if order is None:
        abort(404, description=_("This order link is not valid. Use the link in your receipt e-mail."))
    return render_template("payments/consumer_order.html", order=order, token=token, form=CancelForm(),
                           cancellable=services.cancellable(order), note=services.duties_note(order.ship_country))


@bp.route("/shop/orders/<token>/cancel", methods=["POST"])
@public
def cancel_consumer_order(token: str):  # type: ignore[no-untyped-def]
    order = services.order_by_token(token)
    if order is None:
        abort(404, description=_("This order link is not valid. Use the link in your receipt e-mail."))
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.cancel_consumer_order(order, gateway=gateway())
    except PaymentsUnavailableError as error:
        db.session.rollback()
        flash(_("The refund did not go through, so nothing was cancelled: %(reason)s", reason=str(error)), "error")
        return redirect(url_for("payments.consumer_order", token=token)), 303
    except OrderError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("payments.consumer_order", token=token)), 303
    flash(_("Your order is cancelled and the full amount is refunded to your card."), "success")
    return redirect(url_for("payments.consumer_order", token=token)), 303


# --- the MSME's order inbox ---------------------------------------------------------------------------------


class ShipmentForm(FlaskForm):
    action = HiddenField(validators=[DataRequired(), Length(max=10)])
    carrier = StringField(_l("Carrier"), validators=[Optional(), Length(max=60)])
    tracking = StringField(_l("Tracking number"), validators=[Optional(), Length(max=60)])
    restock = BooleanField(_l("Put the returned items back in stock (checked: fit to sell again)"))



@bp.route("/workspace/orders")
@roles(Role.msme_editor)
def inbox():  # type: ignore[no-untyped-def]
    """Paid consumer orders to pack and send, then delivered and returned."""
    return render_template("payments/inbox.html", shipments=services.inbox(msme_ids()), form=ShipmentForm())


@bp.route("/workspace/orders.csv")
@roles(Role.msme_editor)
def inbox_csv():  # type: ignore[no-untyped-def]
    rows = services.inbox_csv_rows(services.inbox(msme_ids()))
    return Response(to_csv(services.INBOX_CSV_HEADER, rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="orders.csv"'})


def _move_parcel(shipment_id: int, organisation_ids: list[int] | None, back: str):  # type: ignore[no-untyped-def]
    """One parcel's next step, from the MSME's inbox (its own parcels) or the Union's list (any parcel):
    ship, deliver, or cancel / accept a return with the refund ``services.refund_parcel`` decides."""
    form = ShipmentForm()
    if not form.validate_on_submit():
        flash(_("Check the form: the carrier and tracking number are at most 60 characters."), "error")
        return redirect(back), 303
    action = form.action.data or ""
    try:
        shipment = services.shipment_of(shipment_id, organisation_ids)
        if action == "ship":
            services.ship(shipment, carrier=form.carrier.data or "", tracking=form.tracking.data or "")
        elif action in services.PARCEL_REFUNDS:
            refund = services.refund_parcel(shipment, action, gateway=gateway(), restock=bool(form.restock.data))
        else:
            services.move_shipment(shipment, action)
    except PaymentsUnavailableError as error:
        db.session.rollback()
        flash(_("Stripe could not refund the parcel: %(reason)s. Nothing was changed.", reason=str(error)), "error")
        return redirect(back), 303
    except OrderError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404, description=str(error.message))
        flash(str(error.message), "error")
        return redirect(back), 303
    if action in services.PARCEL_REFUNDS:
        flash(_("Parcel for order %(ref)s: %(status)s; %(amount)s refunded to the consumer's card.",
                ref=shipment.order.reference, status=label(shipment.status),
                amount=money(refund.amount_minor, refund.currency)), "success")
    else:
        flash(_("Parcel for order %(ref)s: %(status)s.", ref=shipment.order.reference, status=label(shipment.status)),
              "success")
    return redirect(back), 303


@bp.route("/workspace/orders/<int:shipment_id>", methods=["POST"])
@roles(Role.msme_editor)
def move_shipment(shipment_id: int):  # type: ignore[no-untyped-def]
    return _move_parcel(shipment_id, msme_ids(), url_for("payments.inbox"))


@bp.route("/union/shop-orders")
@roles(Role.union_staff, Role.admin)
def union_shop_orders():  # type: ignore[no-untyped-def]
    """Union staff: every paid consumer order, parcel by parcel, with what was refunded."""
    return render_template("payments/union_shop_orders.html", shipments=services.inbox(None), form=ShipmentForm())


@bp.route("/union/shop-orders/parcels/<int:shipment_id>", methods=["POST"])
@roles(Role.union_staff, Role.admin)
def union_move_parcel(shipment_id: int):  # type: ignore[no-untyped-def]
    return _move_parcel(shipment_id, None, url_for("payments.union_shop_orders"))
