"""The passport log as pages for people, newest first: what each entry says (which passport, which
version, when, what changed), read one page at a time by index range; no page grows with the log."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.passports import log as merkle_log
from marketplace.passports.models import Passport
from marketplace.products.models import Product, localised

PER_PAGE = 25


@dataclass(frozen=True)
class HistoryEntry:
    index: int
    public_id: str
    change: str  # published, updated, revoked, suspended, reinstated
    at: dt.datetime | None  # UTC
    version: int | None = None
    name: str = ""  # the lot's code or the product's name in the page's language
    is_lot: bool = False


def page_count(size: int) -> int:
    return max(1, -(-size // PER_PAGE))


def entries(size: int, page: int, locale: str) -> list[HistoryEntry]:
    """Page ``page`` (1 the newest) of a log of ``size`` entries, newest first."""
    end = max(0, size - (page - 1) * PER_PAGE)
    start = max(0, end - PER_PAGE)
    found = [_entry(leaf.index, leaf.data) for leaf in merkle_log.page(start, end - start)]
    names = _names({entry.public_id for entry in found}, locale)
    return [HistoryEntry(**{**entry.__dict__, **names.get(entry.public_id, {})}) for entry in reversed(found)]


def _when(value: object) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _entry(index: int, data: str) -> HistoryEntry:
    entry = json.loads(data)
    public_id = str(entry.get("passport", ""))
    if entry.get("kind") == "version":
        number = int(entry.get("version") or 0)
        return HistoryEntry(index, public_id, "published" if number == 1 else "updated", _when(entry.get("issuedAt")),
                            version=number)
    change = "revoked" if entry.get("revoked") else "suspended" if entry.get("suspended") else "reinstated"
    return HistoryEntry(index, public_id, change, _when(entry.get("at")))


def _names(public_ids: set[str], locale: str) -> dict[str, dict[str, object]]:
    """The lot code or product name of each passport on the page, in one query."""
    rows = db.session.execute(
        select(Passport.public_id, Lot.code, Product.name)
        .outerjoin(Lot, Lot.id == Passport.lot_id).outerjoin(Product, Product.id == Passport.product_id)
        .where(Passport.public_id.in_(sorted(public_ids))))
    return {public_id: {"name": code, "is_lot": True} if code else {"name": localised(name, locale)[0]}
            for public_id, code, name in rows}
