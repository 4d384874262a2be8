"""The notes the site writes into a passport's figures are shown in the reader's language; the signed credential
keeps them as signed (English). Names, numbers and addresses inside a note are kept."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports.models import Passport
from tests.conftest import LiveServer
from tests.helpers import page_width

# The English of the notes the passport builders write (untp/dpp.py, untp/dpp_product.py) for the figures a
# public page shows with their source; the demo's pages show each but the Code of Practice report's.
ENGLISH = ("processing steps divided by", "Source lots; dehaired lots converted", "Herder price per kg ×",
           "Union premium ledger", "annual livestock census")
# One of each kind as the builders write it, and what the German page shows.
NOTES_DE = {
    "Khangai Knitwear LLC: sum of 5 processing steps divided by 1200 items; scope: cradle to gate, from scouring "
    "to finishing": "Khangai Knitwear LLC: Summe von 5 Verarbeitungsschritten geteilt durch 1.200 Artikel; "
                    "Bilanzrahmen: von der Wiege bis zum Werkstor, vom Waschen bis zur Ausrüstung",
    "Source lots; dehaired lots converted at an assumed 50% dehairing yield":
        "Herkunftspartien; entgrannte Partien mit einer angenommenen Entgrannungsausbeute von 50\u00a0% umgerechnet",
    "Herder price per kg × greasy fibre per item (from the source lots and the batch yield) ÷ retail price":
        "Hirtenpreis pro kg × Rohfaser pro Artikel (aus den Herkunftspartien und der Ausbeute der Charge) ÷ "
        "Verkaufspreis",
    "Union premium ledger (https://example.org/organisations/jinst)":
        "Prämienbuch der Union (https://example.org/organisations/jinst)",
    "Khangai Knitwear LLC, reviewed by the Union": "Khangai Knitwear LLC, von der Union geprüft",
    "Jinst Golden Fleece Cooperative, annual livestock census":
        "Jinst Golden Fleece Cooperative, jährliche Viehzählung",
}
SOURCE = re.compile(r'<span class="source">(.*?)</span>', re.S)


def _notes(app: Flask, locale: str) -> list[str]:
    """The sources shown on every product passport and three lot passports (a lot's notes are of fewer kinds)."""
    with app.app_context():
        products = db.session.scalars(select(Passport.public_id).where(Passport.product_id.is_not(None)))
        lots = db.session.scalars(select(Passport.public_id).where(Passport.lot_id.is_not(None))
                                  .order_by(Passport.id).limit(3))
        public_ids = [*products, *lots]
    client = app.test_client()
    return [note for public_id in public_ids
            for note in SOURCE.findall(client.get(f"/passports/{public_id}?lang={locale}").text)]


def test_every_note_the_site_writes_is_shown_in_the_readers_language(demo_app: Flask) -> None:
    english = "\n".join(_notes(demo_app, "en"))
    assert [phrase for phrase in ENGLISH if phrase not in english] == []
    for locale in ("mn", "de", "zh"):  # each message in every language: test_i18n.py's test_catalogue_is_complete
        notes = "\n".join(_notes(demo_app, locale))
        assert [phrase for phrase in ENGLISH if phrase in notes] == [], locale
    german = "\n".join(_notes(demo_app, "de"))
    assert re.search(r"Summe von \d+ Verarbeitungsschritten geteilt durch [\d.]+ Artikel", german)
    assert re.search(r"Prämienbuch der Union \(http\S+/organisations/[a-z-]+\)", german)  # its address kept


def test_each_kind_of_note_reads_in_german_with_its_names_numbers_and_addresses(app: Flask) -> None:
    from marketplace.passports.source_notes import source_note

    with app.test_request_context("/?lang=de"):
        assert {note: source_note(note) for note in NOTES_DE} == NOTES_DE


def test_an_unknown_or_personal_note_is_shown_as_written(app: Flask) -> None:
    from marketplace.passports.source_notes import source_note

    with app.test_request_context("/?lang=fr"):
        assert source_note("Altai lab (IWTO-47)") == "Altai lab (IWTO-47)"
        assert source_note("") == ""
        assert source_note(None) == ""
        assert source_note("Union reference rate and more") == "Union reference rate and more"  # whole notes only


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_a_reader_sees_the_impact_notes_in_german(live_server: LiveServer, page: Page, width: int) -> None:
    """A German reader opens a product passport's impact section: the figure's source reads in German, with the
    maker's name and the numbers, and nothing scrolls sideways."""
    app = live_server.app
    with app.app_context():
        public_id = db.session.scalars(select(Passport.public_id).where(Passport.product_id.is_not(None))
                                       .order_by(Passport.id)).first()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/passports/{public_id}?lang=de")
    page.get_by_role("heading", name="Wirkung", exact=True).click()  # the section opens
    row = page.get_by_role("row", name=re.compile("Treibhausgase"))
    expect(row).to_contain_text(re.compile(r"Quelle: .+: Summe von \d+ Verarbeitungsschritten geteilt durch"))
    expect(row).not_to_contain_text("processing steps")
    assert page_width(page) <= width
