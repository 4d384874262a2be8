"""The search engine this site uses, chosen from the settings, and the searches domains send through it.

Domains call ``search``/``search_many``/``batched`` here (the port's verbs); the outbox, worker and
operations stay in services.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app

from marketplace.search.embedded import EmbeddedEngine
from marketplace.search.meili import MeilisearchEngine
from marketplace.search.port import IndexSpec, SearchEngine, SearchQuery, SearchResult
from marketplace.search.schema import place_synonyms


def make_engine(config: dict[str, Any]) -> SearchEngine:
    synonyms = place_synonyms(str(Path(config["CONTENT_DIR"]) / "reference"))
    if config.get("MEILISEARCH_URL"):
        return MeilisearchEngine(
            config["MEILISEARCH_URL"], config.get("MEILISEARCH_API_KEY"), synonyms,
            prefix=config.get("MEILISEARCH_INDEX_PREFIX") or "", search_key=config.get("MEILISEARCH_SEARCH_KEY"),
        )
    return EmbeddedEngine(config["SEARCH_INDEX_PATH"], synonyms)


def engine(app: Flask | None = None) -> SearchEngine:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if "search_engine" not in app.extensions:
        app.extensions["search_engine"] = make_engine(app.config)
    return app.extensions["search_engine"]


def search(spec: IndexSpec, query: SearchQuery) -> SearchResult:
    return engine().search(spec, query)


def search_many(spec: IndexSpec, queries: list[SearchQuery]) -> list[SearchResult]:
    """Several searches: one round trip on a server engine."""
    return engine().search_many(spec, queries)


def batched() -> bool:
    """Whether extra searches are cheap when sent with others (a server engine's multi-search)."""
    return bool(engine().batched)
