"""MSME products and their sizes imported from a spreadsheet with a zip of pictures: every row checked by the
product pages' own forms and services, nothing written before the confirmation, one transaction, a re-import
changes nothing, bad files and zips get a clear message (issue 22, point 2)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from PIL import Image
from sqlalchemy import func, select

from marketplace import models as m
from marketplace.extensions import db
from marketplace.lots import sheets
from marketplace.products import import_sheet
from marketplace.products.models import ProductStatus
from tests.helpers import csrf_token, sign_in, text
from tests.products_helpers import jpeg_bytes

MSME = ("msme@demo.example", "demo-msme-2026")
PAGE = "/workspace/products/import"
HEADER = list(import_sheet.COLUMNS)


def _row(**changes: str) -> dict[str, str]:
    row = {
        "line": "import-basics", "line_name": "Import basics", "sku": "KK-IMP-SCARF", "name_en": "Imported scarf",
        "name_mn": "Ороолт", "description_en": "", "composition": "cashmere: 95, silk: 5", "recycled_pct": "0",
        "recycled_origin": "none", "dyed": "no", "care_codes": "wash-hand; dry-flat", "weight_g": "0.18 kg",
        "price_eur": "120,00", "production_date": "01.08.2026", "batch_code": "", "product_gtin": "",
        "images": "scarf.jpg", "size": "one size", "colour": "brown", "stock": "10", "gtin": "",
    }
    row.update(changes)
    return row


def _xlsx(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    header = header or HEADER
    book = Workbook()
    sheet = book.active
    sheet.append([f"{import_sheet.column_label(k)} [{k}]" for k in header])
    for row in rows:
        sheet.append([row.get(k, "") for k in header])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    return jpeg_bytes(exif=exif)


def _client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, *MSME).status_code == 302
    return client


def _upload(client: FlaskClient, data: bytes, pictures: bytes | None = None, name: str = "products.xlsx"):  # type: ignore[no-untyped-def]
    form: dict[str, object] = {"csrf_token": csrf_token(client, PAGE), "file": (io.BytesIO(data), name)}
    if pictures is not None:
        form["pictures"] = (io.BytesIO(pictures), "pictures.zip")
    return client.post(PAGE, data=form, content_type="multipart/form-data")


def _confirm(client: FlaskClient, preview_html: str, action: str, **extra: object):  # type: ignore[no-untyped-def]
    token = re.search(r'name="rows" value="([^"]+)"', preview_html)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', preview_html)
    assert token
    assert csrf
    return client.post(f"{PAGE}/confirm", data={"csrf_token": csrf.group(1), "rows": token.group(1),
                                                 "action": action, **extra})


def _counts(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))  # type: ignore[misc]
                     for model in (m.ProductLine, m.Product, m.ProductVariant, m.ProductImage, m.SearchOutbox))


ROWS = [
    _row(),
    _row(sku="KK-IMP-CREW", name_en="Imported crew neck", images="crew.png", size="S", colour="", stock="3",
         gtin="4006381333931", weight_g="290", price_eur="245"),
    _row(sku="KK-IMP-CREW", name_en="", name_mn="", images="", size="M", colour="", stock="4", gtin="",
         weight_g="", price_eur=""),
]


def test_import_checks_every_row_writes_only_on_confirmation_and_a_reimport_changes_nothing(
        demo_app: Flask) -> None:
    client = _client(demo_app)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "template.xlsx" in text(page)
    before = _counts(demo_app)
    png = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 20, 30)).save(png, "PNG")
    pictures = _zip({"photos/scarf.jpg": _exif_jpeg(), "crew.png": png.getvalue()})

    preview = _upload(client, _xlsx(ROWS), pictures)
    html = text(preview)
    assert preview.status_code == 200, html
    assert "New products ready to import: 2" in html
    assert "New sizes ready to import: 3" in html
    assert "Rows with errors: 0" in html
    assert _counts(demo_app) == before  # a preview writes nothing

    done = _confirm(client, html, "import")
    assert done.status_code == 200, text(done)
    assert "2 new products and 3 new sizes" in text(done)
    with demo_app.app_context():
        crew = db.session.scalar(select(m.Product).where(m.Product.sku == "KK-IMP-CREW"))
        scarf = db.session.scalar(select(m.Product).where(m.Product.sku == "KK-IMP-SCARF"))
        assert crew.organisation.slug == scarf.organisation.slug == "khangai-knitwear"
        assert crew.line.slug == "import-basics"
        assert crew.status is ProductStatus.draft
        assert [(v.size, v.stock, v.gtin) for v in crew.variants] == [("S", 3, "04006381333931"), ("M", 4, None)]
        assert crew.sizes == ["S", "M"]
        assert scarf.fibre_composition == {"cashmere": "95", "silk": "5"}
        assert str(scarf.weight_g) == "180.0"
        assert scarf.price_minor == 12000
        assert [(v.size, v.colour) for v in scarf.variants] == [("one size", "brown")]
        assert len(scarf.images) == 1
        assert len(crew.images) == 1
        assert scarf.images[0].alt == {"en": "Imported scarf"}
    after = _counts(demo_app)
    assert after[:4] == (before[0] + 1, before[1] + 2, before[2] + 3, before[3] + 2)

    again = _upload(client, _xlsx(ROWS), pictures)
    assert "Already imported, left unchanged: 3" in text(again)
    assert "New products ready to import: 0" in text(again)
    assert _confirm(client, text(again), "import").status_code == 200
    assert _counts(demo_app) == after  # the re-import changed nothing


def test_stored_pictures_carry_no_metadata(demo_app: Flask) -> None:
    client = _client(demo_app)
    html = text(_upload(client, _xlsx([_row()]), _zip({"scarf.jpg": _exif_jpeg()})))
    assert _confirm(client, html, "import").status_code == 200
    with demo_app.app_context():
        from marketplace.products.images import get_store, original_key

        image = db.session.scalar(select(m.Product).where(m.Product.sku == "KK-IMP-SCARF")).images[0]
        path = get_store().path(original_key(image.sha256, image.original_ext))
        assert path is not None
        assert b"SecretCameraMaker" not in path.read_bytes()


def test_bad_rows_are_named_by_row_and_column_with_the_product_pages_messages_and_write_nothing(
        demo_app: Flask) -> None:
    client = _client(demo_app)
    before = _counts(demo_app)
    rows = [
        _row(sku="BAD-COMP", composition="cashmere: 90", images=""),  # row 2
        _row(sku="BAD-GTIN", gtin="4006381333932", images=""),  # row 3
        _row(sku="KK-UE-CREW-LG", size="XXL", images=""),  # row 4: Khangai's own product, a new size
        _row(sku="AYS-YARN-226-WH", images=""),  # row 5: another MSME's SKU
        _row(sku="BAD-PIC", images="missing.jpg"),  # row 6
        _row(sku="BAD-PIC2", images="notapicture.jpg"),  # row 7
        _row(sku="BAD-CARE", care_codes="wash-99", images=""),  # row 8
        _row(sku="BAD-DUP", images=""),  # row 9
        _row(sku="BAD-DUP", images=""),  # row 10: the same size and colour twice
        _row(sku="BAD-LINE", line="Not A Slug!", images=""),  # row 11
        _row(sku="BAD-STOCK", stock="-2", images=""),  # row 12
        _row(sku="BAD-DIFF", images=""),  # row 13
        _row(sku="BAD-DIFF", size="L", price_eur="99", images=""),  # row 14: product columns differ
    ]
    response = _upload(client, _xlsx(rows), _zip({"notapicture.jpg": b"hello"}))
    html = text(response)
    assert response.status_code == 200

    def error(row: int, key: str) -> str:
        match = re.search(rf'id="fix-{row}-{key}-error">([^<]*)<', html)
        assert match, (row, key)
        return match.group(1)

    assert "adds up to 90%" in error(2, "composition")  # parse_composition, the product form's rule
    assert "check digit" in error(3, "gtin")
    assert 'id="fix-4-' not in html  # a new size of an existing product of this MSME is fine
    assert error(5, "sku") == "Another product already uses this SKU."
    assert "missing.jpg" in error(6, "images")
    assert "not a picture" in error(7, "images")
    assert "wash-99" in error(8, "care_codes") or "valid choice" in error(8, "care_codes")
    assert "already has that size in that colour" in error(10, "size")
    assert "lower-case" in error(11, "line")
    assert error(12, "stock")
    assert "row 13" in error(14, "price_eur")
    assert "Row 2, column G" in html  # named by row and column letter
    assert _confirm(client, html, "import").status_code == 422
    assert _counts(demo_app) == before


def test_a_row_is_fixed_or_skipped_in_the_preview(demo_app: Flask) -> None:
    client = _client(demo_app)
    rows = [_row(composition="cashmere: 90", images=""), _row(sku="SKIP-ME", gtin="123", images="")]
    html = text(_upload(client, _xlsx(rows)))
    assert "Rows with errors: 2" in html
    fixed = _confirm(client, html, "check", **{"fix-2-composition": "cashmere: 100", "skip": "3"})
    assert "Rows with errors: 0" in text(fixed)
    assert "Skipped rows: 1" in text(fixed)
    # the box stays ticked: the form sends it again
    assert re.search(r'value="3" aria-label="[^"]*" checked', text(fixed))
    assert _confirm(client, text(fixed), "import", skip="3").status_code == 200
    with demo_app.app_context():
        assert db.session.scalar(select(m.Product.fibre_composition).where(m.Product.sku == "KK-IMP-SCARF")) == {
            "cashmere": "100"}
        assert db.session.scalar(select(m.Product.id).where(m.Product.sku == "SKIP-ME")) is None


def _traversal_zip() -> bytes:
    return _zip({"../../etc/evil.jpg": jpeg_bytes()})


def _bomb_zip() -> bytes:
    return _zip({"big.jpg": b"\x00" * (11 * 1024 * 1024)})


def _encrypted_zip() -> bytes:
    data = bytearray(_zip({"a.jpg": jpeg_bytes()}))
    # Set the "encrypted" flag in the local and central headers (zipfile cannot write encrypted entries).
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x1
    return bytes(data)


@pytest.mark.parametrize(("pictures", "message"), [
    (b"not a zip", "not a zip archive"),
    (_traversal_zip(), "outside its folder"),
    (_bomb_zip(), "larger than 10 MB once unpacked"),
    (_encrypted_zip(), "password-protected"),
    (_zip({"a/x.jpg": b"1", "b/X.JPG": b"2"}), "Two files in the zip"),
])
def test_bad_zips_get_a_clear_message_and_change_nothing(demo_app: Flask, pictures: bytes, message: str) -> None:
    client = _client(demo_app)
    before = _counts(demo_app)
    response = _upload(client, _xlsx([_row()]), pictures)
    assert response.status_code == 422
    assert message in text(response)
    assert _counts(demo_app) == before


def test_a_file_with_the_wrong_columns_is_refused(demo_app: Flask) -> None:
    client = _client(demo_app)
    response = _upload(client, _xlsx([_row()], header=[k for k in HEADER if k != "composition"]))
    assert response.status_code == 422
    assert "lacks these columns" in text(response)


def test_a_changed_expired_or_foreign_preview_is_refused(demo_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(demo_app)
    html = text(_upload(client, _xlsx([_row(images="")])))
    tampered = html.replace('name="rows" value="', 'name="rows" value="x')
    assert _confirm(client, tampered, "import").status_code == 400
    monkeypatch.setattr(sheets, "TOKEN_MAX_AGE", -1)  # every signed preview is now older than allowed
    refused = _confirm(client, html, "import")
    assert refused.status_code == 400
    assert "expired" in text(refused)
    monkeypatch.undo()
    assert _confirm(client, html, "import").status_code == 200


@pytest.mark.parametrize("lang", sheets.LOCALES)
def test_the_template_downloads_in_six_languages_and_imports_with_its_picture(demo_app: Flask, lang: str) -> None:
    client = _client(demo_app)
    response = client.get(f"{PAGE}/template.xlsx?lang={lang}")
    assert response.status_code == 200
    assert f"products-template-{lang}.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert len(book.worksheets) == 2
    csv_file = client.get(f"{PAGE}/template.csv?lang={lang}")
    assert csv_file.status_code == 200
    preview = _upload(client, response.data, _zip({"scarf-front.jpg": jpeg_bytes()}), name="t.xlsx")
    assert "New products ready to import: 1" in text(preview), text(preview)
    assert "Rows with errors: 0" in text(preview)
    assert client.get(f"{PAGE}/template.xlsx?lang=xx").status_code == 404


class _CommitRefusedError(Exception):
    pass


def test_a_confirmation_whose_commit_fails_keeps_the_staged_zip_for_the_retry(demo_app: Flask) -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from marketplace.products import import_pictures
    from marketplace.products.images import get_store

    client = _client(demo_app)
    pictures = _zip({"scarf.jpg": jpeg_bytes()})
    key = import_pictures.STAGING.format(sha=import_pictures.hashlib.sha256(pictures).hexdigest())
    html = text(_upload(client, _xlsx([_row()]), pictures))
    before = _counts(demo_app)

    def fail(session: Session) -> None:
        if not session.in_nested_transaction():  # the request's own commit, not a row's savepoint
            raise _CommitRefusedError

    event.listen(Session, "before_commit", fail)
    try:
        with pytest.raises(_CommitRefusedError):  # the database refused the request's commit
            _confirm(client, html, "import")
    finally:
        event.remove(Session, "before_commit", fail)
    with demo_app.app_context():
        db.session.rollback()
        assert get_store().exists(key), "the zip was deleted although nothing was imported"
    assert _counts(demo_app) == before

    done = _confirm(client, html, "import")  # the person presses Import again
    assert done.status_code == 200, text(done)
    assert "1 new products" in text(done) or "1 new product" in text(done)
    with demo_app.app_context():
        assert not get_store().exists(key), "the imported zip is kept after the import committed"
        assert len(db.session.scalar(select(m.Product).where(m.Product.sku == "KK-IMP-SCARF")).images) == 1
