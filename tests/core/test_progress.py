"""Long commands show progress: a bar on a terminal, plain counts otherwise (issue 22)."""

from __future__ import annotations

import io

from flask import Flask
from sqlalchemy import func, select

from marketplace import progress
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.products.models import Product, ProductStatus


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_counts_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    assert list(progress.track(iter(range(25)), 25, "Indexing lots", stream=out)) == list(range(25))
    lines = out.getvalue().splitlines()
    assert lines[0] == "Indexing lots: 0/25"
    assert "Indexing lots: 3/25" in lines
    assert lines[-1] == "Indexing lots: 25/25 done"
    assert "\r" not in out.getvalue()
    assert len(lines) <= 12  # a line per tenth, not per item


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    assert list(progress.track(iter(range(5)), 5, "Indexing lots", stream=out)) == list(range(5))
    assert "Indexing lots" in out.getvalue()
    assert "100%" in out.getvalue()


def test_steps_are_numbered() -> None:
    out = io.StringIO()
    assert list(progress.steps(["one", "two"], stream=out)) == ["one", "two"]
    assert out.getvalue().splitlines() == ["[1/2] one…", "[2/2] two…"]


def test_search_reindex_prints_counts_in_a_log(demo_app: Flask) -> None:
    result = demo_app.test_cli_runner().invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert "Indexing lots: 0/44" in result.output
    assert "Indexing lots: 44/44 done" in result.output
    assert "Indexing products: 16/16 done" in result.output


def test_passports_publish_prints_counts_in_a_log(demo_app: Flask) -> None:
    with demo_app.app_context():
        lots = db.session.scalar(select(func.count()).select_from(Lot).where(Lot.status == LotStatus.listed))
        products = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.status == ProductStatus.published))
    total = lots + products
    result = demo_app.test_cli_runner().invoke(args=["passports", "publish"])
    assert result.exit_code == 0, result.output
    assert f"Publishing passports: 0/{total}" in result.output
    assert f"Publishing passports: {total}/{total} done" in result.output
    assert f"0 new versions published, {total} unchanged" in result.output
