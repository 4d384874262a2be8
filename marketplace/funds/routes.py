"""The premium ledger: Union staff see and correct it; cooperative managers split their premium."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.access import own_organisation, roles
from marketplace.accounts.models import Role
from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds import services
from marketplace.funds.forms import CorrectionForm, SplitForm
from marketplace.funds.models import EntryKind, Fund, FundEntry
from marketplace.money import to_minor
from marketplace.organisations.models import Organisation, OrgKind

bp = Blueprint("funds", __name__)
STAFF = (Role.union_staff, Role.admin)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv(entries: list[FundEntry], name: str) -> Response:
    return Response(services.to_csv(entries), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _xlsx(entries: list[FundEntry], name: str) -> Response:
    return Response(services.to_xlsx(entries), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# Union staff -------------------------------------------------------------------------------

def _ledger_page(form: CorrectionForm | None = None, entry_id: int | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    entries = services.history()
    corrected = {e.corrects_id for e in entries if e.corrects_id}
    return render_template("funds/ledger.html", entries=entries, corrected=corrected, balances=services.balances(),
                           form=form or CorrectionForm(), entry_id=entry_id), status


@bp.route("/union/funds")
@roles(*STAFF)
def ledger():  # type: ignore[no-untyped-def]
    return _ledger_page()


@bp.route("/union/funds/export.csv")
@roles(*STAFF)
def export():  # type: ignore[no-untyped-def]
    return _csv(services.history(), f"premium-ledger-{today().isoformat()}.csv")


@bp.route("/union/funds/export.xlsx")
@roles(*STAFF)
def export_xlsx():  # type: ignore[no-untyped-def]
    return _xlsx(services.history(), f"premium-ledger-{today().isoformat()}.xlsx")


@bp.route("/union/funds/<int:entry_id>/correct", methods=["POST"])
@roles(*STAFF)
def correct(entry_id: int):  # type: ignore[no-untyped-def]
    original = db.session.get(FundEntry, entry_id)
    if original is None or original.kind is EntryKind.fund_split:
        abort(404)
    form = CorrectionForm()
    form.currency_code = original.currency
    if not form.validate_on_submit():
        return _ledger_page(form, entry_id, 422)
    try:
        services.correct_money_entry(original, amount_minor=to_minor(form.amount.data, original.currency),
                                     reason=form.reason.data, staff=current_user,
                                     advance=form.advance.data or original.advance)
    except services.FundsError as exc:
        form.amount.errors = [*form.amount.errors, str(exc)]
        return _ledger_page(form, entry_id, 422)
    flash(_("Entry %(id)s corrected.", id=entry_id), "success")
    return redirect(url_for("funds.ledger")), 303


# Cooperative managers ----------------------------------------------------------------------

def _coop_page(coop: Organisation, form: SplitForm, status: int = 200):  # type: ignore[no-untyped-def]
    return render_template("funds/cooperative.html", coop=coop, form=form, funds=list(Fund),
                           summary=services.summary(coop.id), entries=services.history(coop.id)), status


@bp.route("/cooperative/funds", methods=["GET", "POST"])
@roles(Role.cooperative_manager)
def cooperative():  # type: ignore[no-untyped-def]
    coop = own_organisation(Role.cooperative_manager, OrgKind.cooperative)
    form = SplitForm()
    if not form.is_submitted():
        form.season.data = today().year
        return _coop_page(coop, form)
    if not form.validate_on_submit():
        return _coop_page(coop, form, 422)
    try:
        services.record_split(
            cooperative_id=coop.id, season=form.season.data, manager=current_user, note=form.note.data or "",
            percentages={fund: form[f"pct_{fund.value}"].data for fund in Fund},
        )
    except services.FundsError as exc:
        form.form_errors.append(str(exc))
        return _coop_page(coop, form, 422)
    flash(_("The split of the %(season)s premium is recorded.", season=form.season.data), "success")
    return redirect(url_for("funds.cooperative")), 303


@bp.route("/cooperative/funds/export.csv")
@roles(Role.cooperative_manager)
def cooperative_export():  # type: ignore[no-untyped-def]
    coop = own_organisation(Role.cooperative_manager, OrgKind.cooperative)
    return _csv(services.history(coop.id), f"premium-ledger-{coop.slug}-{today().isoformat()}.csv")


@bp.route("/cooperative/funds/export.xlsx")
@roles(Role.cooperative_manager)
def cooperative_export_xlsx():  # type: ignore[no-untyped-def]
    coop = own_organisation(Role.cooperative_manager, OrgKind.cooperative)
    return _xlsx(services.history(coop.id), f"premium-ledger-{coop.slug}-{today().isoformat()}.xlsx")
