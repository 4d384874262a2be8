"""Demo ledger entries: premium due from the demo order, one payment and one fund split."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from marketplace.extensions import db
from marketplace.funds import services
from marketplace.funds.models import EntryKind, Fund, FundEntry
from marketplace.organisations.models import Organisation


def load_demo_funds(content: Path, report: Any) -> None:
    for _entry in range(services.ensure_premiums_due()):
        report.count(FundEntry, True)
    path = content / "demo" / "funds.toml"
    if not path.exists():
        return
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    coops = {o.slug: o for o in db.session.scalars(select(Organisation))}
    for item in data.get("payment", []):
        if db.session.scalar(select(FundEntry.id).filter_by(kind=EntryKind.payment, reference=item["reference"])):
            report.count(FundEntry, False)
            continue
        services.record_payment(
            cooperative_id=coops[item["cooperative"]].id, amount_minor=int(item["amount_minor"]),
            currency=item["currency"], paid_on=item["paid_on"], reference=item["reference"],
            advance=item.get("advance", False), staff=None, note=item.get("note", ""),
        )
        report.count(FundEntry, True)
    for item in data.get("split", []):
        coop = coops[item["cooperative"]]
        wanted = {fund: Decimal(str(item.get(fund.value, 0))) for fund in Fund}
        current = services.splits(coop.id).get(int(item["season"]))
        if current == wanted:
            report.count(FundEntry, False)
            continue
        services.record_split(cooperative_id=coop.id, season=int(item["season"]), percentages=wanted,
                              manager=None, note=item.get("note", ""))
        report.count(FundEntry, True)
