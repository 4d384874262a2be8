"""Order documents as PDF: the pro-forma of a quote, invoices and credit notes, and the packing list.

Set with fpdf2 in DejaVu Sans (the same page setup as the MSME dossier, :mod:`marketplace.practice.pdf`),
in the reader's locale. Every date carries its time zone (the Union's, Ulaanbaatar).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from flask import Response, abort, current_app
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from fpdf.fonts import FontFace
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.i18n import label, money, with_unit
from marketplace.passports.models import Passport  # the passport's public link only
from marketplace.practice.pdf import FontMissingError, _Dossier
from marketplace.urls import absolute_url

if TYPE_CHECKING:
    from marketplace.orders.models import Order
    from marketplace.orders.services import QuoteSummary
    from marketplace.payments.models import Invoice

ISSUER = "Union of Sustainable Cashmere Cooperatives, Ulaanbaatar, Mongolia"
TZ_NAME = "Asia/Ulaanbaatar"


def _kg(kg: Decimal) -> str:
    return with_unit(kg, "kg", 1)


def _date(day: object) -> str:
    return f"{format_date(day)}"


def _when(moment: object) -> str:
    return f"{format_datetime(moment, 'medium', rebase=True)} ({TZ_NAME})"


def _table(pdf: _Dossier, head: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
    pdf.set_font("DejaVu", "", 9)
    bold = FontFace(emphasis="BOLD")
    with pdf.table(col_widths=widths, borders_layout="HORIZONTAL_LINES", text_align="LEFT", line_height=5,
                   padding=1, headings_style=bold) as table:
        row = table.row()
        for cell in head:
            row.cell(cell)
        for values in rows:
            row = table.row()
            for cell in values:
                row.cell(cell)
    pdf.ln(2)


def _start(title: str) -> _Dossier:
    pdf = _Dossier(title, ISSUER)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.heading(title, 15)
    return pdf


def proforma(summary: QuoteSummary) -> bytes:
    """The quote as a pro-forma invoice: lines, indicative total, currency, basis, Incoterm and validity."""
    qr, quote = summary.request, summary.quote
    pdf = _start(_("Pro-forma invoice for quote #%(id)s", id=qr.id))
    pdf.paragraph(_("Not a request for payment. The amounts become due only once the quote is accepted."), 9)
    pdf.facts([
        (_("Buyer"), qr.buyer.name),
        (_("Quantity"), _kg(qr.kg)),
        (_("Price per kg"), money(quote.price_minor, quote.currency)),
        (_("Premium per kg"), money(quote.premium_minor, quote.currency)),
        (_("Price basis"), label(summary.basis) if summary.basis else "—"),
        (_("Currency"), quote.currency),
        (_("Delivery"), f"{qr.incoterm.value} {qr.incoterm_place}"),
        (_("Valid until"), f"{_date(quote.valid_until)} ({TZ_NAME})"),
        (_("Indicative total"), money(summary.total_minor, quote.currency)),
        (_("Deposit (%(pct)s%%)", pct=quote.deposit_pct), money(summary.deposit_minor, quote.currency)),
        (_("Balance"), money(summary.balance_minor, quote.currency)),
    ])
    if summary.lines:
        pdf.heading(_("Lots"), 11)
        _table(pdf, [_("Lot"), _("Quantity")],
               [[lot.code, _kg(kg) if kg is not None else _("a share of the total")] for lot, kg in summary.lines],
               (60, 40))
    else:
        pdf.paragraph(_("The lots are chosen on acceptance, shared fairly among the cooperatives whose lots meet "
                        "the specification."))
    if quote.note:
        pdf.paragraph(quote.note)
    return bytes(pdf.output())


def invoice(invoice: Invoice, order: Order, paid_minor: int) -> bytes:
    """A deposit invoice, final invoice or credit note, with its number, lines and what was paid."""
    kind = invoice.kind.value
    titles = {"deposit": _("Deposit invoice %(number)s", number=invoice.number),
              "final": _("Final invoice %(number)s", number=invoice.number),
              "credit_note": _("Credit note %(number)s", number=invoice.number)}
    pdf = _start(titles[kind])
    pdf.facts([
        (_("Issued"), _when(invoice.issued_at)),
        (_("Order"), order.reference),
        (_("Buyer"), order.buyer.name),
        (_("Delivery"), f"{order.incoterm.value} {order.incoterm_place}"),
        (_("Amount"), money(invoice.amount_minor, invoice.currency)),
        (_("Order total"), money(order.total_minor, order.currency)),
        (_("Paid so far"), money(paid_minor, order.currency)),
    ])
    if invoice.note:
        pdf.paragraph(invoice.note)
    _table(pdf, [_("Lot"), _("Quantity"), _("Price per kg"), _("Premium per kg"), _("Total")],
           [[line.lot.code, _kg(line.kg), money(line.price_minor, order.currency),
             money(line.premium_minor, order.currency), money(line.total_minor, order.currency)]
            for line in order.lines], (40, 25, 25, 25, 30))
    return bytes(pdf.output())


def packing_list(order: Order) -> bytes:
    """Lots, bags and net kg, with each lot's certificate and passport link."""

    pdf = _start(_("Packing list for order %(ref)s", ref=order.reference))
    pdf.facts([
        (_("Buyer"), order.buyer.name),
        (_("Delivery"), f"{order.incoterm.value} {order.incoterm_place}"),
        (_("Carrier"), order.carrier or "—"),
        (_("Tracking or AWB number"), order.tracking_number or "—"),
        (_("Shipped on"), f"{_date(order.shipped_on)} ({TZ_NAME})" if order.shipped_on else "—"),
        (_("Net weight"), _kg(order.kg)),
    ])
    lot_ids = [line.lot_id for line in order.lines]
    passports = dict(db.session.execute(
        select(Passport.lot_id, Passport.public_id).where(Passport.lot_id.in_(lot_ids))).tuples().all())
    rows = []
    for line in order.lines:
        lot = line.lot
        # The lot's bags in proportion to the kg taken from it, rounded up (a part bag is a bag).
        bags = math.ceil(line.kg * lot.bags / lot.net_kg) if lot.net_kg and lot.bags else 0
        passport = passports.get(lot.id)
        rows.append([lot.code, str(bags) if bags else "—", _kg(line.kg),
                     lot.certificate.number if lot.certificate else "—",
                     absolute_url("passports.page", public_id=passport) if passport else "—"])
    _table(pdf, [_("Lot"), _("Bags"), _("Net kg"), _("Certificate"), _("Passport")], rows, (30, 12, 20, 30, 60))
    return bytes(pdf.output())


def pdf_response(build: Callable[[], bytes], name: str) -> Response:
    """The document as a download; a server without its font answers 503 with a plain message."""
    try:
        render = build()
    except FontMissingError:
        current_app.logger.exception("Order documents need Debian's fonts-dejavu-core")
        abort(503)
    response = Response(render, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response.headers["Cache-Control"] = "private, no-store"
    return response
