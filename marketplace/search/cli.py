"""``flask search reindex``, ``sync [--once]``, ``check`` and ``keys``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from marketplace import progress
from marketplace.search import services
from marketplace.search.meili import MeilisearchEngine
from marketplace.search.port import SearchUnavailable

search = AppGroup("search", help="Search indexes: rebuild them, or apply the outbox.")


def _bar(name: str, total: int, docs: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    return progress.track(docs, total, f"Indexing {name}")


@search.command("reindex")
def reindex() -> None:
    """Rebuild every index from the database, with a progress bar."""
    try:
        counts = services.reindex(_bar)
    except SearchUnavailable as error:
        raise click.ClickException(f"The search engine is not available: {error}") from None
    click.echo(", ".join(f"{name}: {count} documents" for name, count in counts.items()))


@search.command("check")
def check() -> None:
    """List the differences between the search indexes and the database (exit 1 if any)."""
    try:
        found = services.differences()
    except SearchUnavailable as error:
        raise click.ClickException(f"The search engine is not available: {error}") from None
    differ = False
    for name, diff in found.items():
        for kind, label in (("missing", "in the database, not in the index"), ("extra", "in the index only")):
            if diff[kind]:
                differ = True
                shown = ", ".join(diff[kind][:50]) + (" …" if len(diff[kind]) > 50 else "")
                click.echo(f"{name}: {len(diff[kind])} {label}: {shown}")
    if differ:
        click.echo("Run `flask --app marketplace search reindex` to rebuild the indexes.")
        raise SystemExit(1)
    click.echo(", ".join(f"{name}: index equals the database" for name in found))


@search.command("keys")
def keys() -> None:
    """Create a search-only key (web processes) and an indexing key (worker) with MEILI_MASTER_KEY."""
    master = os.environ.get("MEILI_MASTER_KEY")
    url = current_app.config.get("MEILISEARCH_URL")
    if not url or not master:
        raise click.ClickException("Set MEILISEARCH_URL and MEILI_MASTER_KEY (the server's master key).")
    engine = MeilisearchEngine(url, master, (), prefix=current_app.config.get("MEILISEARCH_INDEX_PREFIX") or "")
    try:
        made = engine.create_keys()
    except SearchUnavailable as error:
        raise click.ClickException(f"Meilisearch refused to create the keys: {error}") from None
    click.echo(f"MEILISEARCH_SEARCH_KEY={made['search']}   # web processes: search only")
    click.echo(f"MEILISEARCH_API_KEY={made['indexing']}   # web processes and the worker: indexing")


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
