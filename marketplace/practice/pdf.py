"""The environmental and social dossier as a PDF: the same facts as the JSON dossier, in the reader's locale.

Text is set in DejaVu Sans (Debian's ``fonts-dejavu-core``), embedded and subset, so Mongolian
Cyrillic names print as written; Chinese headings fall back to Noto Sans CJK (``fonts-noto-cjk``)
when it is installed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from marketplace.i18n import label, with_unit

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


class FontMissingError(RuntimeError):
    """The Unicode font is not installed (``apt-get install fonts-dejavu-core``)."""


def _font_dir() -> Path:
    return Path(current_app.config.get("PDF_FONT_DIR") or FONT_DIR)


class _Dossier(FPDF):
    def __init__(self, title: str, footer: str) -> None:
        super().__init__(format="A4")
        self._title, self._footer = title, footer
        folder = _font_dir()
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if not regular.is_file() or not bold.is_file():
            raise FontMissingError(f"{regular} is missing: install Debian's fonts-dejavu-core")
        self.add_font("DejaVu", "", str(regular))
        self.add_font("DejaVu", "B", str(bold))
        if CJK_FONT.is_file() and _needs_cjk():
            self.add_font("NotoCJK", "", str(CJK_FONT), collection_font_number=0)
            self.set_fallback_fonts(["NotoCJK"], exact_match=False)
        self.set_lang(_locale())
        self.set_title(title)
        self.set_creator("Union of Sustainable Cashmere Cooperatives")
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 6, f"{self._footer} · {self.page_no()}/{{nb}}", align="C")

    # Blocks ------------------------------------------------------------------------------
    def heading(self, text: str, size: int = 13) -> None:
        self.ln(2)
        self.set_font("DejaVu", "B", size)
        self.multi_cell(0, size * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def paragraph(self, text: str, size: int = 10) -> None:
        self.set_font("DejaVu", "", size)
        self.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        """Name and value pairs, as a two-column table that breaks across pages."""
        self.set_font("DejaVu", "", 10)
        bold = FontFace(emphasis="BOLD")
        with self.table(col_widths=(35, 65), first_row_as_headings=False, borders_layout="HORIZONTAL_LINES",
                        text_align="LEFT", line_height=5.5, padding=1) as table:
            for name, value in rows:
                row = table.row()
                row.cell(name, style=bold)
                row.cell(value or "—")
        self.ln(1)


def _locale() -> str:
    return str(get_locale() or "en")


def _needs_cjk() -> bool:
    return _locale().startswith("zh")


def _report(pdf: _Dossier, report: dict[str, Any]) -> None:
    pdf.heading(_("Performance report for %(year)s", year=report["year"]), 12)
    treated = _("Treated before discharge") if report["wastewaterTreated"] else _("Not treated")
    workers = report["workers"]
    incidents = str(report["incidents"])
    reviewed = report["reviewedOn"]
    pdf.facts([
        (_("Energy used"), with_unit(report["energyKwh"], "kWh", 0)),
        (_("Water used"), with_unit(report["waterM3"], "m³", 1)),
        (_("Wastewater"), f"{treated}: {report['wastewaterNote']}" if report["wastewaterNote"] else treated),
        (_("Chemicals management"), report["chemicalsManagement"]),
        (_("Workers"), _("%(women)s women, %(men)s men (%(total)s in all)", women=workers["women"],
                         men=workers["men"], total=workers["total"])),
        (_("Workplace incidents"), f"{incidents}: {report['incidentsNote']}" if report["incidentsNote"]
         else incidents),
        (_("Review by the Union"), _("Accepted on %(date)s", date=format_date(_date(reviewed)))
         if reviewed else _("Accepted")),
    ])


def _date(iso: str) -> Any:
    return dt.date.fromisoformat(iso)


def render(dossier: dict[str, Any]) -> bytes:
    """The dossier (as built by ``services.dossier``) as PDF bytes."""
    org = dossier["organisation"]
    title = _("Environmental and social dossier: %(org)s", org=org["name"])
    pdf = _Dossier(title, _("MSME Voluntary Code of Practice, %(org)s", org=org["name"]))
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading(title, 16)
    pdf.paragraph(_("For a bank's green-credit screening. Generated on %(date)s from the Union's marketplace.",
                    date=format_date(_date(dossier["generatedOn"]))), 9)
    pdf.heading(_("Organisation"))
    pdf.facts([
        (_("Name"), org["name"]),
        (_("Profile"), org["id"]),
        (_("Location"), ", ".join(p for p in (org.get("city"), org.get("country")) if p)),
        (_("Women-led"), _("Yes") if org["womenLed"] else _("No")),
    ])
    pdf.heading(_("Commitments under the Code"))
    pdf.facts([(label(area), text or _("Not declared yet")) for area, text in dossier["commitments"].items()])
    pdf.heading(_("Yearly performance reports accepted by the Union"))
    if not dossier["reports"]:
        pdf.paragraph(_("No report has been accepted yet."))
    for report in dossier["reports"]:
        _report(pdf, report)
    pdf.ln(3)
    pdf.paragraph(_("Figures are declared by the MSME and accepted after review by the Union's staff."), 9)
    return bytes(pdf.output())
