"""The charts staff, cooperatives and MSMEs see: stock, sales and premiums, read from the same services as
the tables beside them (``marketplace.charts`` draws them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import case, func, literal_column, select

from marketplace.charts import Chart, Series, bar
from marketplace.extensions import db
from marketplace.funds import services as funds
from marketplace.funds.models import EntryKind
from marketplace.fx import convert_minor
from marketplace.i18n import label, money, number, with_unit
from marketplace.lots.models import FibreState, Lot, LotStatus
from marketplace.money import minor_places
from marketplace.organisations.models import CooperativeProfile
from marketplace.payments import services as payments
from marketplace.payments.models import ConsumerOrder, ConsumerOrderLine, ConsumerOrderStatus
from marketplace.products.models import Product
from marketplace.union.services import MICRON_BANDS


def _kg(value: float) -> str:
    return with_unit(Decimal(str(round(value))), "kg", 0)


def _money(currency: str) -> Callable[[float], str]:
    places = minor_places(currency)
    return lambda value: money(round(value * 10 ** places), currency)


def _major(minor: int, currency: str) -> float:
    return minor / 10 ** minor_places(currency)


def band_label(band: int) -> str:
    if band == 0:
        return "≤ " + with_unit(MICRON_BANDS[0], "µm", 0)
    if band < len(MICRON_BANDS):
        return f"{number(MICRON_BANDS[band - 1], 0)}–{with_unit(MICRON_BANDS[band], 'µm', 0)}"
    return "> " + with_unit(MICRON_BANDS[-1], "µm", 0)


def stock() -> Chart:
    """Available kg of listed lots by fineness band (x) and state (stacked)."""
    band = case(*((Lot.mean_diameter_um <= upper, index) for index, upper in enumerate(MICRON_BANDS)),
                else_=len(MICRON_BANDS))
    found = {(state, b): float(kg or 0) for state, b, kg in db.session.execute(
        select(Lot.state, band, func.sum(Lot.available_kg)).where(Lot.status == LotStatus.listed)
        .group_by(Lot.state, band))}
    states = [s for s in FibreState if any(k[0] == s for k in found)]
    bands = range(len(MICRON_BANDS) + 1)
    return bar(_("Stock available by fineness and state"),
               _("Kilograms available in listed lots, by mean fibre diameter band, stacked by state."),
               [band_label(b) for b in bands],
               [Series(label(s), [found.get((s, b), 0.0) for b in bands]) for s in states],
               fmt=_kg, stacked=True, label_heading=_("Mean fibre diameter"))


def sales() -> list[Chart]:
    """Kg sold by season and cooperative; per currency, revenue, deposits and outstanding by season."""
    rows, totals = payments.sales()
    charts: list[Chart] = []
    if rows:
        seasons = sorted({r.season for r in rows})
        coops = sorted({r.cooperative for r in rows})
        kg: dict[tuple[int, str], float] = defaultdict(float)
        for r in rows:
            kg[r.season, r.cooperative] += float(r.kg)
        charts.append(bar(_("Kilograms sold by season and cooperative"),
                          _("Kilograms of allocated B2B orders per combing season, stacked by cooperative."),
                          [str(s) for s in seasons], [Series(c, [kg[s, c] for s in seasons]) for c in coops],
                          fmt=_kg, stacked=True, label_heading=_("Season")))
    for currency in sorted({t.currency for t in totals}):
        mine = sorted((t for t in totals if t.currency == currency), key=lambda t: t.season)
        charts.append(bar(
            _("Revenue and deposits by season (%(currency)s)", currency=currency),
            _("Revenue of allocated B2B orders in %(currency)s per season, deposits received and amount still "
              "outstanding.", currency=currency),
            [str(t.season) for t in mine],
            [Series(_("Revenue"), [_major(t.revenue_minor, currency) for t in mine]),
             Series(_("Deposits received"), [_major(t.deposits_minor, currency) for t in mine]),
             Series(_("Outstanding"), [_major(t.outstanding_minor, currency) for t in mine])],
            fmt=_money(currency), label_heading=_("Season")))
    return charts


def _premium_by_season(cooperative_id: int | None) -> dict[str, dict[int, list[int]]]:
    """Per currency and season: [premium due, premium paid] in minor units (payments dated by their year)."""
    found: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for entry in funds.in_force(cooperative_id):
        if entry.kind is EntryKind.fund_split or entry.currency is None or not entry.amount_minor:
            continue
        if entry.kind is EntryKind.premium_due:
            found[entry.currency][entry.season or entry.created_at.year][0] += entry.amount_minor
        else:
            year = entry.season or (entry.paid_on.year if entry.paid_on else entry.created_at.year)
            found[entry.currency][year][1] += entry.amount_minor
    return found


def premiums() -> list[Chart]:
    """Per currency: premium due and paid per cooperative, and both by season."""
    charts = []
    balances = funds.balances()
    by_season = _premium_by_season(None)
    for currency in sorted({b.currency for b in balances}):
        mine = [b for b in balances if b.currency == currency]
        charts.append(bar(
            _("Premium due and paid per cooperative (%(currency)s)", currency=currency),
            _("Premium due to each cooperative in %(currency)s from confirmed allocations, and premium the Union "
              "has paid.", currency=currency),
            [b.cooperative for b in mine],
            [Series(_("Premium due"), [_major(b.due_minor, currency) for b in mine]),
             Series(_("Premium paid"), [_major(b.paid_minor, currency) for b in mine])],
            fmt=_money(currency), label_heading=_("Cooperative")))
        charts.append(_premium_over_time(currency, by_season.get(currency, {})))
    return charts


def _premium_over_time(currency: str, seasons: dict[int, list[int]]) -> Chart:
    years = sorted(seasons)
    return bar(
        _("Premium due and paid by season (%(currency)s)", currency=currency),
        _("Premium in %(currency)s that became due in each combing season, and premium paid for it.",
          currency=currency),
        [str(y) for y in years],
        [Series(_("Premium due"), [_major(seasons[y][0], currency) for y in years]),
         Series(_("Premium paid"), [_major(seasons[y][1], currency) for y in years])],
        fmt=_money(currency), label_heading=_("Season"))


def cooperative(profile: CooperativeProfile) -> list[Chart]:
    """A cooperative's public profile: stocking against carrying capacity, and premium received by season."""
    charts = []
    groups = list(profile.pasture_user_groups)
    if groups:
        charts.append(bar(
            _("Stocking against carrying capacity"),
            _("Actual stocking and carrying capacity of each pasture-user group, in sheep units, as last declared "
              "by the cooperative."),
            [g.name for g in groups],
            [Series(_("Carrying capacity"), [g.carrying_capacity_su for g in groups]),
             Series(_("Actual stocking"), [g.actual_stocking_su for g in groups])],
            fmt=lambda v: _("%(n)s sheep units", n=number(Decimal(str(round(v))), 0)),
            axis_fmt=lambda v: number(Decimal(str(round(v))), 0), label_heading=_("Pasture-user group")))
    for currency, seasons in sorted(_premium_by_season(profile.organisation_id).items()):
        years = sorted(y for y in seasons if seasons[y][1])
        if years:
            charts.append(bar(
                _("Premium received by season (%(currency)s)", currency=currency),
                _("Premium in %(currency)s the Union has paid to the cooperative, by combing season.",
                  currency=currency),
                [str(y) for y in years], [Series(_("Premium paid"), [_major(seasons[y][1], currency) for y in years])],
                fmt=_money(currency), label_heading=_("Season")))
    return charts


def msme_sales(organisation_id: int) -> list[Chart]:
    """An MSME's paid consumer sales of its products by month, per currency."""
    # The format as a literal, not a bound parameter: PostgreSQL must see the same expression in GROUP BY.
    month = (func.strftime(literal_column("'%Y-%m'"), ConsumerOrder.created_at) if db.engine.dialect.name == "sqlite"
             else func.to_char(ConsumerOrder.created_at, literal_column("'YYYY-MM'")))
    found = db.session.execute(
        select(ConsumerOrder.currency, month, func.sum(ConsumerOrderLine.quantity * ConsumerOrderLine.unit_price_minor),
               func.sum(ConsumerOrderLine.quantity))
        .join(ConsumerOrderLine.order).join(ConsumerOrderLine.product)
        .where(Product.organisation_id == organisation_id, ConsumerOrder.status == ConsumerOrderStatus.paid)
        .group_by(ConsumerOrder.currency, month).order_by(month)
    ).all()
    charts = []
    for currency in sorted({c for c, *_rest in found}):
        mine = [(m, int(total or 0)) for c, m, total, _count in found if c == currency]
        charts.append(bar(
            _("Your consumer sales by month (%(currency)s)", currency=currency),
            _("Paid consumer orders of your products in %(currency)s, by month of the order (UTC).",
              currency=currency),
            [m for m, _total in mine], [Series(_("Sales"), [_major(t, currency) for _m, t in mine])],
            fmt=_money(currency), label_heading=_("Month")))
    return charts


def price_split(cashmere: dict | None) -> Chart | None:
    """Where a product's retail price goes, per item, as one stacked bar, from its passport's published figures:
    the price paid to the herders for the fibre, the premium (its share to the herders and to the cooperative's
    funds), and the rest (processing, the MSME and the shop, which the passport does not break down).
    None when the passport carries no herder share of the retail price."""
    pricing = (cashmere or {}).get("fairPricing") or {}
    share = pricing.get("herderShareOfPrice")
    items = (cashmere or {}).get("itemsInBatch") or 0
    greasy = ((cashmere or {}).get("overallYield") or {}).get("greasyKg") or {}
    if not share or not items or greasy.get("value") is None:
        return None
    currency = share["retailPrice"]["currency"]
    retail = Decimal(share["retailPrice"]["amount"])
    paid = Decimal(str(share["value"]))
    parts = [(_("Paid to the herders for the fibre"), paid)]
    per_kg = pricing.get("premiumPerKg")  # in the value-chain tier; the public passport gives the premium's share
    premium: Decimal | None = None
    if per_kg:
        premium_minor = convert_minor(per_kg["amount"], per_kg["currency"], currency)
        premium = Decimal(premium_minor) * Decimal(str(greasy["value"])) / items * 100 / retail
    elif pricing.get("premiumShareOfPrice"):
        premium = Decimal(str(pricing["premiumShareOfPrice"]["value"]))
    if premium is not None:
        to_herders = Decimal(str(pricing.get("premiumToHerders", 100)))
        parts += [(_("Premium to the herders"), premium * to_herders / 100),
                  (_("Premium to the cooperative's funds"), premium * (100 - to_herders) / 100)]
    parts.append((_("Processing, the MSME and the shop"), max(Decimal(0), 100 - sum(p for _n, p in parts))))
    return bar(_("Where the retail price goes"),
               _("Shares of the retail price of %(price)s per item, in percent. Herders' price and premium come "
                 "from the source lots; the rest is not broken down.", price=money(int(retail), currency)),
               [_("Retail price")], [Series(name, [float(part)]) for name, part in parts],
               fmt=lambda value: with_unit(Decimal(str(round(value, 1))), "%", 1), stacked=True, horizontal=True,
               label_heading=_("Price"))
