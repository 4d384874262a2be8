"""An MSME editor imports product lines, products and their sizes from a spreadsheet, with a zip of pictures:
upload, preview, fix or skip rows, import. No JavaScript: the preview is a form whose rows travel signed
(``imports.pack``, expiring) and are checked again on every submission."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from marketplace.access import roles
from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.lots import sheets
from marketplace.organisations.models import Organisation
from marketplace.products import import_pictures, import_sheet, imports

bp = Blueprint("product_import", __name__, url_prefix="/workspace/products/import")


class UploadForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv, at most 5 MB and 2,000 rows)"),
                     validators=[FileRequired(_l("Choose the spreadsheet to import."))])
    pictures = FileField(_l("Pictures (optional: a .zip of JPEG, PNG or WebP files, at most 50 MB)"))


class ConfirmForm(FlaskForm):
    pass


def _organisation() -> Organisation:
    ids = sorted(current_user.organisation_ids(Role.msme_editor))
    organisation = db.session.get(Organisation, ids[0]) if ids else None
    if organisation is None:
        abort(404)
    return organisation


def _upload_page(form: UploadForm, status: int = 200, message: str | None = None):  # type: ignore[no-untyped-def]
    return render_template("products/import/upload.html", form=form, organisation=_organisation(),
                           message=message, languages=sheets.LOCALES), status


@bp.route("", methods=["GET", "POST"])
@roles(Role.msme_editor)
def upload():  # type: ignore[no-untyped-def]
    form = UploadForm()
    organisation = _organisation()
    if not form.is_submitted():
        return _upload_page(form)
    if not form.validate_on_submit():
        return _upload_page(form, 422)
    upload = form.file.data
    try:
        table = sheets.read_file(upload.filename or "", upload.stream.read(sheets.MAX_BYTES + 1), import_sheet.SHEET)
    except sheets.ImportFileError as error:
        form.file.errors = [str(error)]
        return _upload_page(form, 422)
    pictures, sha = None, None
    if form.pictures.data and form.pictures.data.filename:
        data = form.pictures.data.stream.read(import_pictures.MAX_ZIP_BYTES + 1)
        try:
            pictures = import_pictures.Pictures(data)
        except sheets.ImportFileError as error:
            form.pictures.errors = [str(error)]
            return _upload_page(form, 422)
        sha = import_pictures.stage(data)
    preview = imports.check_rows(organisation, table, pictures=pictures)
    token = imports.pack(current_user.id, organisation.id, upload.filename or "", table, sha)
    return _preview_page(preview, token, upload.filename or "", pictures is not None)


def _preview_page(preview: imports.Preview, token: str, filename: str, pictures: bool, *, status: int = 200,
                  message: str | None = None):  # type: ignore[no-untyped-def]
    return render_template("products/import/preview.html", preview=preview, token=token, filename=filename,
                           pictures=pictures, form=ConfirmForm(), label=import_sheet.column_label,
                           letter=sheets.column_letter, message=message), status


def _apply_fixes(table: sheets.Table) -> None:
    """Values typed into the preview's fix fields replace the file's (only for existing rows and columns)."""
    rows = dict(table.rows)
    for name, value in request.form.items():
        _prefix, number, key = [*name.split("-", 2), "", ""][:3]
        if _prefix != "fix" or not number.isdigit() or int(number) not in rows or key not in import_sheet.COLUMNS:
            continue
        rows[int(number)][key] = value.strip()[: sheets.MAX_CELL + 1]
        if key not in table.columns:
            table.columns.append(key)
        if key in table.formulas.get(int(number), []):
            table.formulas[int(number)].remove(key)


@bp.route("/confirm", methods=["POST"])
@roles(Role.msme_editor)
def confirm():  # type: ignore[no-untyped-def]
    if not ConfirmForm().validate_on_submit():
        abort(400)
    organisation = _organisation()
    try:
        organisation_id, filename, table, sha = imports.unpack(request.form.get("rows", ""), current_user.id)
        if organisation_id != organisation.id:
            abort(404)
        pictures = import_pictures.staged(sha) if sha else None
    except sheets.ImportFileError as error:
        return _upload_page(UploadForm(formdata=None), 400, message=str(error))
    _apply_fixes(table)
    skip = [int(n) for n in request.form.getlist("skip") if n.isdigit() and len(n) < 9]
    write = request.form.get("action") == "import"
    preview = imports.check_rows(organisation, table, skip=skip, pictures=pictures, write=write)
    token = imports.pack(current_user.id, organisation.id, filename, table, sha)
    if not write:
        return _preview_page(preview, token, filename, pictures is not None)
    if preview.blocking:
        return _preview_page(preview, token, filename, pictures is not None, status=422, message=_(
            "%(n)d rows still have errors: fix them or tick “Skip” on them, then import.", n=len(preview.blocking)))
    if sha:
        import_pictures.unstage(db.session, sha)  # the pictures are stored with the products now (on commit)
    return render_template("products/import/done.html", preview=preview, filename=filename)


def _template(render, suffix: str, mimetype: str, prefix: str = "") -> Response:  # type: ignore[no-untyped-def]
    wanted = request.args.get("lang", "")
    if wanted and wanted not in sheets.LOCALES:
        abort(404)
    if wanted:
        with force_locale(wanted):
            body = render()
    else:
        body = render()
    name = f"products-template{'-' + wanted if wanted else ''}.{suffix}"
    return Response(prefix + body if prefix else body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/template.xlsx")
@roles(Role.msme_editor)
def template_xlsx():  # type: ignore[no-untyped-def]
    return _template(import_sheet.template_xlsx, "xlsx",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/template.csv")
@roles(Role.msme_editor)
def template_csv():  # type: ignore[no-untyped-def]
    return _template(import_sheet.template_csv, "csv", "text/csv", "\ufeff")
