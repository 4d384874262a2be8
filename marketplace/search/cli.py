"""``flask search reindex`` and ``flask search sync [--once]``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import click
from flask.cli import AppGroup

from marketplace.search import services
from marketplace.search.port import SearchUnavailable

search = AppGroup("search", help="Search indexes: rebuild them, or apply the outbox.")


def _bar(name: str, total: int, docs: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    with click.progressbar(docs, length=total, label=f"Indexing {name}") as bar:
        yield from bar


@search.command("reindex")
def reindex() -> None:
    """Rebuild every index from the database, with a progress bar."""
    try:
        counts = services.reindex(_bar)
    except SearchUnavailable as error:
        raise click.ClickException(f"The search engine is not available: {error}") from None
    click.echo(", ".join(f"{name}: {count} documents" for name, count in counts.items()))


@search.command("sync")
@click.option("--once", is_flag=True, help="Apply the backlog once, wait until it is indexed, and exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls.")
def sync(once: bool, interval: float) -> None:
    """The search worker: send the outbox to the engine and confirm its tasks (or one pass with --once)."""
    configured = False
    while True:
        try:
            if not configured:
                services.configure_all()  # index settings come from the code, as at every deploy
                configured = True
            applied = services.drain_all() if once else services.sync_once()
            if applied or once:
                click.echo(f"Applied {applied} change(s); {services.backlog()} waiting.")
        except SearchUnavailable as error:
            click.echo(f"The search engine is not available ({error}); {services.backlog()} change(s) kept.", err=True)
            if once:
                raise SystemExit(1) from None
        if once:
            return
        time.sleep(interval)
