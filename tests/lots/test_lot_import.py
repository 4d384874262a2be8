"""Lots imported from a lab spreadsheet: every row checked by the lot form's rules, nothing written before the
confirmation, a re-import changes nothing, bad files get a clear message (issue 22)."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from marketplace import memo
from marketplace import models as m
from marketplace.csv_export import to_csv, to_xlsx
from marketplace.extensions import db
from marketplace.lots import imports, sheets
from marketplace.lots.models import LotStatus
from marketplace.passports import services as passports
from tests.helpers import csrf_token, sign_in, text

COOP = ("coop@demo.example", "demo-coop-2026")
STAFF = ("staff@demo.example", "demo-staff-2026")
PAGE = "/lots/import"
TODAY = dt.date.today()  # noqa: DTZ011
HEADER = [k for k in imports.COLUMNS if k != "cooperative"]


def _row(**changes: str) -> dict[str, str]:
    row = {
        "lot_code": "", "lab_report_number": "DFTL-IMP-1", "lab_name": "Demo Fibre Testing Laboratory",
        "test_method": "IWTO-8", "tested_on": (TODAY - dt.timedelta(days=30)).isoformat(), "season": "2025",
        "soum": "Jinst", "herder_households": "21", "colour": "light_grey", "sorting": "unsorted",
        "state": "greasy", "mean_diameter_um": "16.7", "diameter_cv_pct": "21.6", "fibres_over_30um_pct": "1.0",
        "mean_length_mm": "36.6", "hair_content_pct": "40.9", "dehairing_yield_pct": "42.4",
        "vegetable_matter_pct": "1.76", "moisture_regain_pct": "15.1", "net_kg": "640", "bags": "14",
        "min_order_kg": "100", "sample_size_g": "100", "currency": "EUR", "price": "41.00", "premium": "4.00",
        "price_basis": "greasy", "incoterm": "CPT", "incoterm_place": "Milan Malpensa", "deposit_pct": "30",
        "price_valid_until": (TODAY + dt.timedelta(days=180)).isoformat(), "herder_price_mnt": "137000",
        "premium_to_herders_pct": "60", "certificate": "SC-2025-BKH-001",
    }
    row.update(changes)
    return row


def _xlsx(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    header = header or HEADER
    book = Workbook()
    sheet = book.active
    sheet.append([f"{imports.column_label(k)} [{k}]" if k in imports.COLUMNS else k for k in header])
    for row in rows:
        sheet.append([row.get(k, "") for k in header])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(rows: list[dict[str, str]]) -> bytes:
    return to_csv(HEADER, ([r.get(k, "") for k in HEADER] for r in rows)).encode()


def _client(app: Flask, who: tuple[str, str] = COOP) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *who).status_code == 302
    return client


def _upload(client: FlaskClient, data: bytes, name: str = "lab.xlsx", **fields: str):  # type: ignore[no-untyped-def]
    form = {"csrf_token": csrf_token(client, PAGE), "file": (io.BytesIO(data), name), **fields}
    return client.post(PAGE, data=form, content_type="multipart/form-data")


def _confirm(client: FlaskClient, preview_html: str, action: str, **extra: object):  # type: ignore[no-untyped-def]
    token = re.search(r'name="rows" value="([^"]+)"', preview_html)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', preview_html)
    assert token
    assert csrf
    data = {"csrf_token": csrf.group(1), "rows": token.group(1), "action": action, **extra}
    return client.post("/lots/import/confirm", data=data)


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))  # type: ignore[misc]
                     for model in (m.Lot, m.LotContribution, m.Passport, m.SearchOutbox))


def test_import_checks_every_row_writes_only_on_confirmation_and_a_reimport_changes_nothing(demo_app: Flask) -> None:
    client = _client(demo_app)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "/lots/import/template.xlsx" in text(page)
    rows = [_row(), _row(lab_report_number="DFTL-IMP-2", mean_diameter_um="0.0158 mm", tested_on="31.10.2025"),
            _row(lab_report_number="DFTL-IMP-3", price="29.00")]
    workbook = _xlsx(rows)
    before = _counts(demo_app)
    preview = _upload(client, workbook)
    assert preview.status_code == 200, text(preview)
    body = text(preview)
    assert "New lots ready to import: 2" in body
    assert "Rows with errors: 1" in body
    # The floor message of the lot form, named with the row and the column (price is column Z).
    price_column = sheets.column_letter(HEADER.index("price"))
    assert f"Row 4, column {price_column}" in body
    assert "below the fair-price floor of €30.42 per kg" in body
    assert _counts(demo_app) == before  # the preview writes nothing

    refused = _confirm(client, body, "import")
    assert refused.status_code == 422
    assert "still have errors" in text(refused)
    assert _counts(demo_app) == before

    done = _confirm(client, body, "import", skip="4")
    assert done.status_code == 200, text(done)
    assert "2 lots from lab.xlsx are listed" in text(done)
    with demo_app.app_context():
        lots = {lot.lab_report_number: lot for lot in db.session.scalars(
            select(m.Lot).where(m.Lot.lab_report_number.like("DFTL-IMP-%")))}
        assert set(lots) == {"DFTL-IMP-1", "DFTL-IMP-2"}
        assert float(lots["DFTL-IMP-2"].mean_diameter_um) == pytest.approx(15.8)  # 0.0158 mm read as µm
        assert lots["DFTL-IMP-2"].tested_on == dt.date(2025, 10, 31)
        assert all(lot.status is LotStatus.listed for lot in lots.values())
        assert all(passports.passport_for(lot=lot).current is not None for lot in lots.values())
    after = _counts(demo_app)
    assert after[0] == before[0] + 2

    # The same file again: both lots are recognised by their lab report number; nothing changes.
    again = _upload(client, workbook)
    assert "Already imported, left unchanged: 2" in text(again)
    assert "New lots ready to import: 0" in text(again)
    done_again = _confirm(client, text(again), "import", skip="4")
    assert done_again.status_code == 200
    assert _counts(demo_app) == after


def test_a_row_is_fixed_in_the_preview_and_checked_again(demo_app: Flask) -> None:
    client = _client(demo_app)
    preview = _upload(client, _csv([_row(mean_diameter_um="24.5", colour="Цагаан")]), name="lab.csv")
    body = text(preview)
    assert "Cashmere is 10 to 19 µm" in body
    assert 'name="fix-2-mean_diameter_um"' in body
    checked = _confirm(client, body, "check", **{"fix-2-mean_diameter_um": "16.1 µm"})
    assert "New lots ready to import: 1" in text(checked)
    done = _confirm(client, text(checked), "import")
    assert done.status_code == 200
    with demo_app.app_context():
        lot = db.session.scalar(select(m.Lot).filter_by(lab_report_number="DFTL-IMP-1"))
        assert float(lot.mean_diameter_um) == pytest.approx(16.1)


@pytest.mark.parametrize(("changes", "column", "message"), [
    ({"certificate": "SC-2025-BKH-002"}, "certificate", "is not your cooperative"),
    ({"certificate": "NO-SUCH"}, "certificate", "There is no certificate NO-SUCH"),
    ({"net_kg": "0"}, "net_kg", "A lot weighs from 1 to 50,000 kg."),
    ({"net_kg": "640 lb"}, "net_kg", "Unknown unit"),
    ({"min_order_kg": "700"}, "min_order_kg", "cannot be more than the lot"),
    ({"dehairing_yield_pct": ""}, "dehairing_yield_pct", "Give the dehairing yield of greasy fibre."),
    ({"season": "2031"}, "season", "cannot be in the future"),
    ({"tested_on": "sometime"}, "tested_on", "is not a date"),
    ({"soum": "Atlantis"}, "soum", "There is no soum called"),
    ({"colour": "purple"}, "colour", "is not one of"),
    ({"price": "=1+1"}, "price", "formulas are never run"),
    ({"lot_code": "USCC-2025-XXX-999"}, "lot_code", "There is no lot USCC-2025-XXX-999"),
])
def test_bad_rows_are_named_by_row_and_column_and_write_nothing(
    demo_app: Flask, changes: dict[str, str], column: str, message: str,
) -> None:
    client = _client(demo_app)
    before = _counts(demo_app)
    body = text(_upload(client, _xlsx([_row(**changes)])))
    assert message in body
    assert f"Row 2, column {sheets.column_letter(HEADER.index(column))}" in body
    assert _counts(demo_app) == before
    assert _confirm(client, body, "import").status_code == 422
    assert _counts(demo_app) == before


def test_duplicate_rows_and_rows_for_another_cooperative_are_refused(demo_app: Flask) -> None:
    client = _client(demo_app)
    header = ["cooperative", *HEADER]
    rows = [_row(cooperative=""), _row(cooperative=""), _row(lab_report_number="X-2", cooperative="Other Coop")]
    body = text(_upload(client, _xlsx(rows, header)))
    assert "The same lab report number as row 2." in body
    assert "This row is for another cooperative (Other Coop)" in body


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "lab.xlsx", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "photo.png", "This is not a spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "lab.xlsx", "password-protected"),
    (b"PK\x03\x04broken", "lab.xlsx", "The file is damaged"),
    (_zip({"hello.txt": b"hi"}), "lab.xlsx", "The file is damaged"),
    (_zip({"xl/vbaProject.bin": b"x", "[Content_Types].xml": b""}), "lab.xlsm", "contains macros"),
    (b"Name;Weight\nx;1\n", "lab.csv", "is not one of the template's columns"),
    (b"lab_report_number\nX\n", "lab.csv", "The file lacks these columns"),
    (",".join(HEADER).encode(), "lab.csv", "no lots"),
    ("séason".encode("latin-1") + b"\xff\xfe\xfa", "lab.csv", "not in UTF-8"),
])
def test_bad_files_get_a_clear_message_and_change_nothing(demo_app: Flask, data: bytes, name: str,
                                                          message: str) -> None:
    client = _client(demo_app)
    before = _counts(demo_app)
    response = _upload(client, data, name=name)
    assert response.status_code == 422
    assert message in html.unescape(text(response))
    assert _counts(demo_app) == before


def test_size_and_row_limits(demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(demo_app)
    monkeypatch.setattr(sheets, "MAX_ROWS", 3)
    response = _upload(client, _csv([_row(lab_report_number=f"R-{i}") for i in range(4)]), name="lab.csv")
    assert response.status_code == 422
    assert "more than 3 rows" in text(response)
    monkeypatch.setattr(sheets, "MAX_BYTES", 100)
    response = _upload(client, _csv([_row()]), name="lab.csv")
    assert response.status_code == 422
    assert "larger than" in text(response)


def test_a_changed_preview_is_refused(demo_app: Flask) -> None:
    client = _client(demo_app)
    body = text(_upload(client, _xlsx([_row()])))
    tampered = re.sub(r'name="rows" value="([^"]+)"', lambda mt: f'name="rows" value="{mt.group(1)[:-3]}abc"', body)
    before = _counts(demo_app)
    response = _confirm(client, tampered, "import")
    assert response.status_code == 400
    assert "upload the file again" in text(response)
    assert _counts(demo_app) == before
    # Another person's preview is not theirs to import.
    other = _client(demo_app, STAFF)
    csrf = csrf_token(other, PAGE)
    token = re.search(r'name="rows" value="([^"]+)"', body)
    assert token
    response = other.post("/lots/import/confirm", data={"csrf_token": csrf, "rows": token.group(1),
                                                        "action": "import"})
    assert response.status_code == 400
    assert _counts(demo_app) == before


def test_staff_choose_the_cooperative(demo_app: Flask) -> None:
    client = _client(demo_app, STAFF)
    missing = _upload(client, _xlsx([_row()]))
    assert missing.status_code == 422
    assert "Choose the cooperative" in text(missing)
    with demo_app.app_context():
        coop = db.session.scalar(select(m.Certificate).filter_by(number="SC-2025-BKH-001")).holder_id
    preview = _upload(client, _xlsx([_row()]), cooperative_id=str(coop))
    assert "New lots ready to import: 1" in text(preview)
    assert _confirm(client, text(preview), "import").status_code == 200
    with demo_app.app_context():
        assert db.session.scalar(select(m.Lot.cooperative_id).filter_by(lab_report_number="DFTL-IMP-1")) == coop


@pytest.mark.parametrize("lang", ["en", "mn", "fr", "de", "it", "zh"])
def test_the_template_downloads_in_six_languages_and_imports_as_is(demo_app: Flask, lang: str) -> None:
    client = _client(demo_app)
    response = client.get(f"/lots/import/template.xlsx?lang={lang}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    header = [c.value for c in book.worksheets[0][1]]
    assert "[lab_report_number]" in header[1]
    if lang == "en":
        assert header[1].startswith("Lab report number")
    else:
        assert not header[1].startswith("Lab report number")  # translated
    assert len(book.worksheets) == 2
    # The template's example row is a lot this cooperative could list.
    body = text(_upload(client, response.data))
    assert "New lots ready to import: 1" in body, body
    assert client.get("/lots/import/template.xlsx?lang=xx").status_code == 404


def test_xlsx_export_never_writes_a_formula() -> None:
    data = to_xlsx(["=name", "n"], [["=HYPERLINK(\"http://x\")", 3], ["+1", None], ["@SUM(A1)", "a\x01b"]])
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values == [["'=name", "n"], ["'=HYPERLINK(\"http://x\")", 3], ["'+1", None], ["'@SUM(A1)", "ab"]]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_passports_published_in_an_import_batch_are_those_published_one_by_one(demo_app: Flask) -> None:
    """The import lists its lots, then publishes their passports as one batch in the same transaction
    (``events.lots_listed``, ``passports.services.publish_many``), reading the ledger, certificate and Union party
    once for all its lots (marketplace.memo): each lot has its passport, logged and checkpointed, exactly what
    publishing it alone gives (nothing to republish)."""
    client = _client(demo_app)
    preview = _upload(client, _xlsx([_row(lab_report_number="MEMO-1"), _row(lab_report_number="MEMO-2")]))
    assert _confirm(client, text(preview), "import").status_code == 200
    with demo_app.app_context():
        lots = db.session.scalars(select(m.Lot).where(m.Lot.lab_report_number.like("MEMO-%"))).all()
        assert len(lots) == 2
        # The import numbers its lots in turn (listing._Codes): the next free numbers of the season and aimag.
        first, second = sorted(lot.code for lot in lots)
        assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1
        prefix = first.rsplit("-", 1)[0] + "-"
        assert db.session.scalar(select(func.count()).select_from(m.Lot).where(m.Lot.code.startswith(prefix))) \
            == int(second.rsplit("-", 1)[1])  # no gap, no number skipped
        tree_size = db.session.get(m.PassportLogTree, 1).size
        checkpoint = db.session.scalars(select(m.PassportCheckpoint).order_by(
            m.PassportCheckpoint.tree_size.desc()).limit(1)).one()
        assert checkpoint.tree_size == tree_size  # the batch's log entries are covered by the signed checkpoint
        for lot in lots:
            passport = passports.passport_for(lot=lot)
            assert passport.current is not None  # listed in the import's transaction, with its passport
            assert [v.number for v in passport.versions] == [1]
            # Each version is in the provable log (publish_many appends the batch's versions).
            assert db.session.scalar(select(func.count()).select_from(m.PassportLogLeaf).where(
                m.PassportLogLeaf.version_id == passport.current.id)) == 1
            assert passports.publish(passport) is None  # the same content, built without the batch


def test_a_batch_computes_once_and_outside_a_batch_every_time() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)
    assert memo.once("k", compute) == 1
    assert memo.once("k", compute) == 2
    with memo.batch():
        assert memo.once("k", compute) == 3
        assert memo.once("k", compute) == 3
        assert memo.once("other", compute) == 4
    assert memo.once("k", compute) == 5


def test_a_preview_expires(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed rows carry their time: a confirmation after ``TOKEN_MAX_AGE`` is refused as expired."""
    table = sheets.Table(["lab_report_number"], [(2, {"lab_report_number": "X-1"})])
    with app.test_request_context():
        token = imports.pack(7, 3, "lab.xlsx", table)
        assert imports.unpack(token, 7) == (3, "lab.xlsx", table)
        monkeypatch.setattr(sheets, "TOKEN_MAX_AGE", -1)  # the preview is now older than allowed
        with pytest.raises(sheets.ImportFileError, match="expired"):
            imports.unpack(token, 7)
