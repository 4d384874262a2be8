"""Union staff and cooperative managers import lots from a lab spreadsheet: upload, preview, fix or skip, import.

No JavaScript: the preview is a form; its rows travel signed (``imports.pack``) and are checked again on
every submission, so what is imported is what the rules accept at that moment.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from marketplace import memo
from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.forms_common import bounded_int
from marketplace.lots import imports, sheets
from marketplace.organisations.models import Organisation, OrgKind

bp = Blueprint("lot_import", __name__)
ALLOWED = (Role.cooperative_manager, Role.union_staff, Role.admin)
STAFF = (Role.union_staff, Role.admin)


class UploadForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv, at most 5 MB and 2,000 rows)"),
                     validators=[FileRequired(_l("Choose the spreadsheet to import."))])
    cooperative_id = SelectField(_l("Cooperative"), coerce=bounded_int, validate_choice=False)


class ConfirmForm(FlaskForm):
    pass


def _is_staff() -> bool:
    return bool(current_user.has_role(*STAFF))


def _managed_cooperative() -> Organisation | None:
    ids = sorted(current_user.organisation_ids(Role.cooperative_manager))
    coop = db.session.get(Organisation, ids[0]) if ids else None
    return coop if coop is not None and coop.kind is OrgKind.cooperative else None


def _cooperatives() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.cooperative)
                                   .order_by(Organisation.name)))


def _upload_form() -> UploadForm:
    form = UploadForm()
    form.cooperative_id.choices = [SelectChoice(0, _("Choose…"))] + [
        SelectChoice(c.id, c.name) for c in _cooperatives()]
    return form


def _cooperative_for(cooperative_id: int | None) -> Organisation:
    """The cooperative the person may import for: a manager's own, or the one staff chose. 404 otherwise."""
    own = _managed_cooperative()
    if _is_staff():
        coop = db.session.get(Organisation, cooperative_id) if cooperative_id else own
        if coop is None or coop.kind is not OrgKind.cooperative:
            abort(404)
        return coop
    if own is None or (cooperative_id and cooperative_id != own.id):
        abort(404)
    return own


def _upload_page(form: UploadForm, status: int = 200, message: str | None = None):  # type: ignore[no-untyped-def]
    return render_template("lots/import/upload.html", form=form, staff=_is_staff(), coop=_managed_cooperative(),
                           message=message, max_rows=sheets.MAX_ROWS, languages=sheets.LOCALES), status


@bp.route("/lots/import", methods=["GET", "POST"])
@roles(*ALLOWED)
def upload():  # type: ignore[no-untyped-def]
    form = _upload_form()
    if not form.is_submitted():
        return _upload_page(form)
    valid = form.validate_on_submit()
    if _is_staff() and not form.cooperative_id.data:
        form.cooperative_id.errors = [_("Choose the cooperative whose lots these are.")]
        valid = False
    if not valid:
        return _upload_page(form, 422)
    coop = _cooperative_for(form.cooperative_id.data if _is_staff() else None)
    upload = form.file.data
    data = upload.stream.read(sheets.MAX_BYTES + 1)
    try:
        table = imports.read_file(upload.filename or "", data)
    except sheets.ImportFileError as error:
        form.file.errors = [str(error)]
        return _upload_page(form, 422)
    preview = imports.check_rows(coop, table.rows, table.columns, formulas=table.formulas)
    token = imports.pack(current_user.id, coop.id, upload.filename or "", table)
    return _preview_page(preview, token, upload.filename or "")


def _preview_page(preview: imports.Preview, token: str, filename: str, status: int = 200,
                  message: str | None = None):  # type: ignore[no-untyped-def]
    return render_template("lots/import/preview.html", preview=preview, token=token, filename=filename,
                           form=ConfirmForm(), label=imports.column_label, letter=sheets.column_letter,
                           message=message), status


def _apply_fixes(table: sheets.Table) -> None:
    """Values typed into the preview's fix fields replace the file's (only for existing rows and columns)."""
    numbers = {n for n, _v in table.rows}
    for name, value in request.form.items():
        if not name.startswith("fix-"):
            continue
        _prefix, number, key = [*name.split("-", 2), "", ""][:3]
        if not number.isdigit() or int(number) not in numbers or key not in imports.COLUMNS:
            continue
        for n, values in table.rows:
            if n == int(number):
                values[key] = value.strip()[: sheets.MAX_CELL + 1]
                if key not in table.columns:
                    table.columns.append(key)
        formulas = table.formulas.get(int(number), [])
        if key in formulas:
            formulas.remove(key)


@bp.route("/lots/import/confirm", methods=["POST"])
@roles(*ALLOWED)
def confirm():  # type: ignore[no-untyped-def]
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        cooperative_id, filename, table = imports.unpack(request.form.get("rows", ""), current_user.id)
    except sheets.ImportFileError as error:
        return _upload_page(_upload_form(), 400, message=str(error))
    coop = _cooperative_for(cooperative_id)
    _apply_fixes(table)
    skip = [int(n) for n in request.form.getlist("skip") if n.isdigit() and len(n) < 9]
    preview = imports.check_rows(coop, table.rows, table.columns, skip=skip, formulas=table.formulas)
    token = imports.pack(current_user.id, coop.id, filename, table)
    if request.form.get("action") != "import":
        return _preview_page(preview, token, filename)
    if preview.blocking:
        return _preview_page(preview, token, filename, 422, message=_(
            "%(n)d rows still have errors: fix them or tick “Skip” on them, then import.", n=len(preview.blocking)))
    with memo.batch():  # each lot's passport reads the same ledger, certificate and Union party: once
        lots = imports.import_rows(preview)
    return render_template("lots/import/done.html", preview=preview, lots=lots, filename=filename, coop=coop)


def _template_cooperative() -> Organisation | None:
    return _managed_cooperative()


def _locale() -> str | None:
    wanted = request.args.get("lang", "")
    if wanted and wanted not in sheets.LOCALES:
        abort(404)
    return wanted or None


@bp.route("/lots/import/template.xlsx")
@roles(*ALLOWED)
def template_xlsx():  # type: ignore[no-untyped-def]
    locale = _locale()
    coop = _template_cooperative()
    if locale:
        with force_locale(locale):
            body = imports.template_xlsx(coop)
    else:
        body = imports.template_xlsx(coop)
    name = f"lots-template{'-' + locale if locale else ''}.xlsx"
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/lots/import/template.csv")
@roles(*ALLOWED)
def template_csv():  # type: ignore[no-untyped-def]
    locale = _locale()
    coop = _template_cooperative()
    if locale:
        with force_locale(locale):
            body = imports.template_csv(coop)
    else:
        body = imports.template_csv(coop)
    name = f"lots-template{'-' + locale if locale else ''}.csv"
    return Response("\ufeff" + body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
