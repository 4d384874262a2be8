"""Record premium due, payments and fund splits; derive balances; export for auditors.

Every entry is written once. A correction is a new entry of the same kind that names the entry
it corrects; from then on the correction counts in place of the corrected entry. Balances are
never stored: they are summed from the entries in force each time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import aliased, selectinload

from marketplace import csv_export, events, memo
from marketplace.accounts.models import User
from marketplace.db import today
from marketplace.extensions import db
from marketplace.funds.models import SPLIT_COLUMNS, EntryKind, Fund, FundEntry
from marketplace.i18n import money
from marketplace.money import from_minor
from marketplace.orders.models import Allocation, AllocationStatus
from marketplace.organisations.models import Organisation, OrgKind

HUNDRED = Decimal(100)


class FundsError(ValueError):
    """Bad input for the ledger: the message is shown to the user and nothing is written."""


# Reading -----------------------------------------------------------------------------------

def in_force(cooperative_id: int | None = None) -> list[FundEntry]:
    """Entries that count: every entry not corrected by a later one."""
    later = aliased(FundEntry)
    query = (select(FundEntry).outerjoin(later, later.corrects_id == FundEntry.id).where(later.id.is_(None))
             .order_by(FundEntry.id))
    if cooperative_id is not None:
        query = query.where(FundEntry.cooperative_id == cooperative_id)
    return list(db.session.scalars(query))


def history(cooperative_id: int | None = None) -> list[FundEntry]:
    """Every entry ever written, oldest first (corrected ones included)."""
    query = select(FundEntry).options(selectinload(FundEntry.cooperative), selectinload(FundEntry.recorded_by))
    if cooperative_id is not None:
        query = query.where(FundEntry.cooperative_id == cooperative_id)
    return list(db.session.scalars(query.order_by(FundEntry.id)))


@dataclass
class Balance:
    cooperative_id: int
    cooperative: str
    currency: str
    due_minor: int = 0
    paid_minor: int = 0

    @property
    def outstanding_minor(self) -> int:
        return self.due_minor - self.paid_minor


def balances(cooperative_id: int | None = None) -> list[Balance]:
    """Premium due, paid and outstanding per cooperative and currency, derived from the entries."""
    return _balances(in_force(cooperative_id), cooperative_id)


def _balances(entries: list[FundEntry], cooperative_id: int | None) -> list[Balance]:
    found: dict[tuple[int, str], Balance] = {}
    if cooperative_id is not None:  # one cooperative: its name is usually in the session already
        organisation = db.session.get(Organisation, cooperative_id)
        names = {cooperative_id: organisation.name} if organisation is not None else {}
    else:
        names = dict(db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.kind == OrgKind.cooperative)
        ).tuples().all())
    for entry in entries:
        if entry.kind is EntryKind.fund_split or entry.currency is None:
            continue
        key = (entry.cooperative_id, entry.currency)
        row = found.setdefault(key, Balance(entry.cooperative_id, names.get(entry.cooperative_id, ""), entry.currency))
        if entry.kind is EntryKind.premium_due:
            row.due_minor += entry.amount_minor or 0
        else:
            row.paid_minor += entry.amount_minor or 0
    return sorted(found.values(), key=lambda b: (b.cooperative, b.currency))


def outstanding(cooperative_id: int, currency: str) -> int:
    return sum(b.outstanding_minor for b in balances(cooperative_id) if b.currency == currency)


@dataclass
class FundsSummary:
    """What a cooperative's profile and its lots' passports show."""

    balances: list[Balance] = field(default_factory=list)
    splits: dict[int, dict[Fund, Decimal]] = field(default_factory=dict)  # season → fund → %


def splits(cooperative_id: int) -> dict[int, dict[Fund, Decimal]]:
    """The split in force for each season, newest season first."""
    return _splits(in_force(cooperative_id))


def _splits(entries: list[FundEntry]) -> dict[int, dict[Fund, Decimal]]:
    found: dict[int, dict[Fund, Decimal]] = {}
    for entry in entries:
        if entry.kind is EntryKind.fund_split and entry.season is not None:
            found[entry.season] = entry.split()  # the latest entry for a season wins
    return dict(sorted(found.items(), reverse=True))


def summary(cooperative_id: int) -> FundsSummary:
    """Balances and splits from one read of the cooperative's entries; once per batch (a lot import)."""
    return memo.once(("funds.summary", cooperative_id), lambda: _summary(cooperative_id))


def _summary(cooperative_id: int) -> FundsSummary:
    entries = in_force(cooperative_id)
    return FundsSummary(_balances(entries, cooperative_id), _splits(entries))


# Writing -----------------------------------------------------------------------------------

def _premium_per_kg(order: Any, cooperative_id: int) -> int:
    """The premium per kg of the order's lines from this cooperative's lots (kg-weighted)."""
    lines = list(order.lines)
    own = [line for line in lines if line.lot is not None and (
        line.lot.cooperative_id == cooperative_id
        or any(c.cooperative_id == cooperative_id for c in line.lot.contributions))]
    chosen = own or lines
    if not chosen:
        return 0
    kg = sum((line.kg for line in chosen), Decimal(0))
    if not kg:
        return max(line.premium_minor for line in chosen)
    weighted = sum((line.kg * line.premium_minor for line in chosen), Decimal(0)) / kg
    return int(weighted.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def record_premium_due(allocation: Any, *, actor: User | None = None) -> list[FundEntry]:
    """When an allocation is confirmed: premium per kg × kg allocated becomes due to each cooperative.

    Idempotent: an allocation already in the ledger adds nothing.
    """
    existing = db.session.scalar(select(FundEntry.id).where(
        FundEntry.allocation_id == allocation.id, FundEntry.kind == EntryKind.premium_due).limit(1))
    if existing is not None:
        return []
    order = allocation.order
    entries = []
    for share in allocation.shares:
        if share.kg <= 0:
            continue
        per_kg = _premium_per_kg(order, share.cooperative_id)
        amount = int((share.kg * per_kg).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        entry = FundEntry(
            cooperative_id=share.cooperative_id, kind=EntryKind.premium_due, season=allocation.season,
            amount_minor=amount, currency=order.currency, allocation_id=allocation.id, kg=share.kg,
            premium_per_kg_minor=per_kg, reference=order.reference, recorded_by=actor,
        )
        db.session.add(entry)
        entries.append(entry)
    db.session.flush()
    for cooperative_id in sorted({e.cooperative_id for e in entries}):
        _announce(cooperative_id, [e for e in entries if e.cooperative_id == cooperative_id])
    return entries


def above_due(cooperative_id: int, currency: str, amount_minor: int, *, advance: bool,
              replacing_minor: int = 0) -> int | None:
    """The premium rule for payments: the Union pays a cooperative at most what is outstanding, more only as a
    flagged advance. Returns the outstanding amount when ``amount_minor`` is above it without the flag (the
    payment is refused), else None. ``replacing_minor``: the payment being corrected, which no longer counts.
    Every way a payment is written calls it: the staff form, a correction, the demo loader."""
    if advance:
        return None
    due = outstanding(cooperative_id, currency) + replacing_minor
    return due if amount_minor > due else None


def record_payment(
    *, cooperative_id: int, amount_minor: int, currency: str, paid_on: Any, reference: str,
    advance: bool = False, staff: User | None, note: str = "",
) -> FundEntry:
    """Union staff record premium paid to a cooperative. More than is due only as a flagged advance."""
    _check_cooperative(cooperative_id)
    if amount_minor <= 0:
        raise FundsError(_("The amount paid must be greater than zero."))
    if paid_on is None or paid_on > today():
        raise FundsError(_("The payment date cannot be in the future."))
    reference = (reference or "").strip()
    if not reference:
        raise FundsError(_("Give the payment's bank or transfer reference."))
    due = above_due(cooperative_id, currency, amount_minor, advance=advance)
    if due is not None:
        raise FundsError(_(
            "This payment is larger than the %(due)s outstanding in %(currency)s. Tick \u201cadvance\u201d if the "
            "Union is paying premium ahead of sales; otherwise correct the amount.",
            due=_money(max(due, 0), currency), currency=currency))
    entry = FundEntry(
        cooperative_id=cooperative_id, kind=EntryKind.payment, amount_minor=amount_minor, currency=currency,
        paid_on=paid_on, reference=reference[:120], advance=advance, reason=(note or "").strip()[:300],
        recorded_by=staff, season=paid_on.year,
    )
    db.session.add(entry)
    db.session.flush()
    _announce(cooperative_id, [entry])
    return entry


def _validate_split(percentages: Mapping[Fund, Decimal | None]) -> dict[Fund, Decimal]:
    values: dict[Fund, Decimal] = {}
    for fund in Fund:
        value = percentages.get(fund)
        if value is None:
            value = Decimal(0)
        value = Decimal(value)
        if value < 0 or value > HUNDRED:
            raise FundsError(_("Each share must be between 0 and 100%."))
        if value != value.quantize(Decimal("0.01")):
            raise FundsError(_("Give each share with at most two decimals."))
        values[fund] = value
    total = sum(values.values(), Decimal(0))
    if total != HUNDRED:
        raise FundsError(_("The shares add up to %(total)s%%; they must add up to exactly 100%%.",
                           total=f"{total.normalize():f}"))
    return values


def record_split(
    *, cooperative_id: int, season: int, percentages: Mapping[Fund, Decimal | None], manager: User | None,
    note: str = "", corrects: FundEntry | None = None,
) -> FundEntry:
    """A cooperative records how its premium for a season is split across its funds (100% in all)."""
    _check_cooperative(cooperative_id)
    if not 2000 <= season <= today().year:
        raise FundsError(_("The season must be a year from 2000 to this year."))
    values = _validate_split(percentages)
    previous = corrects or next((e for e in reversed(in_force(cooperative_id))
                                 if e.kind is EntryKind.fund_split and e.season == season), None)
    entry = FundEntry(cooperative_id=cooperative_id, kind=EntryKind.fund_split, season=season,
                      reason=(note or "").strip()[:300], recorded_by=manager,
                      corrects_id=previous.id if previous is not None else None,
                      **{SPLIT_COLUMNS[f]: v for f, v in values.items()})
    db.session.add(entry)
    db.session.flush()
    _announce(cooperative_id, [entry])
    return entry


def correct_money_entry(original: FundEntry, *, amount_minor: int, reason: str, staff: User | None,
                        advance: bool | None = None) -> FundEntry:
    """Correct a premium-due or payment entry with a new entry that replaces its amount."""
    if original.kind is EntryKind.fund_split:
        raise FundsError(_("Correct a fund split by recording the season's split again."))
    if db.session.scalar(select(FundEntry.id).where(FundEntry.corrects_id == original.id)) is not None:
        raise FundsError(_("This entry has already been corrected; correct the latest entry instead."))
    reason = (reason or "").strip()
    if not reason:
        raise FundsError(_("Say why the entry is corrected."))
    if amount_minor < 0:
        raise FundsError(_("The corrected amount cannot be negative."))
    flagged = original.advance if advance is None else advance
    if original.kind is EntryKind.payment and above_due(original.cooperative_id, original.currency or "",
                                                        amount_minor, advance=flagged,
                                                        replacing_minor=original.amount_minor or 0) is not None:
        raise FundsError(_("The corrected payment is larger than what is due; flag it as an advance."))
    entry = FundEntry(
        cooperative_id=original.cooperative_id, kind=original.kind, season=original.season,
        amount_minor=amount_minor, currency=original.currency, allocation_id=original.allocation_id,
        kg=original.kg, premium_per_kg_minor=original.premium_per_kg_minor, paid_on=original.paid_on,
        reference=original.reference, advance=flagged, corrects_id=original.id, reason=reason[:300],
        recorded_by=staff,
    )
    db.session.add(entry)
    db.session.flush()
    _announce(original.cooperative_id, [entry])
    return entry


def _check_cooperative(cooperative_id: int) -> None:
    org = db.session.get(Organisation, cooperative_id)
    if org is None or org.kind is not OrgKind.cooperative:
        raise FundsError(_("Choose a cooperative."))


def _money(minor: int, currency: str) -> str:
    return money(minor, currency)


def _announce(cooperative_id: int, entries: list[FundEntry]) -> None:
    """The ledger changed: passports that show it publish new versions (passports/subscribers.py)."""
    events.ledger_entry_recorded.send(cooperative_id, entries=entries)


def ensure_premiums_due() -> int:
    """Premium due for every confirmed allocation not yet in the ledger (for the demo and upgrades)."""
    created = 0
    for allocation in db.session.scalars(select(Allocation).where(Allocation.status == AllocationStatus.confirmed)):
        created += len(record_premium_due(allocation))
    return created


# Export ------------------------------------------------------------------------------------

CSV_HEADER = [
    "entry_id", "recorded_at", "cooperative", "kind", "season", "amount", "currency", "amount_minor", "kg",
    "premium_per_kg_minor", "order_reference_or_payment_reference", "paid_on", "advance",
    *[SPLIT_COLUMNS[f] for f in Fund], "corrects_entry_id", "corrected_by_entry_id", "in_force", "reason",
    "recorded_by",
]


def to_csv(entries: Iterable[FundEntry]) -> str:
    """Every entry, corrected ones included, for auditors (amounts in major and minor units)."""
    return csv_export.to_csv(CSV_HEADER, export_rows(entries))


def to_xlsx(entries: Iterable[FundEntry]) -> bytes:
    """The same table as :func:`to_csv`, as an XLSX workbook (the same formula escaping)."""
    return csv_export.to_xlsx(CSV_HEADER, export_rows(entries), title="ledger")


def export_rows(entries: Iterable[FundEntry]) -> list[list[Any]]:
    entries = list(entries)
    corrected_by = {e.corrects_id: e.id for e in entries if e.corrects_id}

    def row(e: FundEntry) -> list[Any]:
        amount = "" if e.amount_minor is None else str(from_minor(e.amount_minor, str(e.currency)))
        return [
            e.id, e.created_at.isoformat() if e.created_at else "", e.cooperative.name, e.kind.value, e.season,
            amount, e.currency, e.amount_minor, e.kg, e.premium_per_kg_minor, e.reference,
            e.paid_on.isoformat() if e.paid_on else "", "yes" if e.advance else "no",
            *[getattr(e, SPLIT_COLUMNS[f]) for f in Fund], e.corrects_id, corrected_by.get(e.id),
            "no" if e.id in corrected_by else "yes", e.reason, e.recorded_by.name if e.recorded_by else "",
        ]

    return [row(e) for e in entries]


def split_amounts(summary: FundsSummary) -> dict[str, dict[Fund, int]]:
    """Premium paid per currency, divided by the latest split (for display)."""
    if not summary.splits:
        return {}
    latest = next(iter(summary.splits.values()))
    result: dict[str, dict[Fund, int]] = defaultdict(dict)
    for balance in summary.balances:
        for fund, pct in latest.items():
            result[balance.currency][fund] = int((Decimal(balance.paid_minor) * pct / HUNDRED)
                                                 .quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return dict(result)
