"""Home, content pages rendered from markdown in content/, and the health check."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort, jsonify, render_template
from flask_babel import get_locale
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from marketplace.access import public
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.notifications import services as mail
from marketplace.observability import exposition, metrics_allowed
from marketplace.pages import services
from marketplace.products import images
from marketplace.search.services import health as search_health
from marketplace.search.services import outbox_stats as search_outbox_stats

bp = Blueprint("pages", __name__)


@bp.route("/")
@public
def home():  # type: ignore[no-untyped-def]
    return render_template("pages/home.html", **services.home_figures())


@bp.route("/about")
@public
def about():  # type: ignore[no-untyped-def]
    return _content_page("about")


@bp.route("/how-to-read-a-passport")
@public
def passport_guide():  # type: ignore[no-untyped-def]
    return _content_page("how-to-read-a-passport")


@bp.route("/certification")
@public
def certification():  # type: ignore[no-untyped-def]
    return render_template(
        "pages/certification.html",
        page=_page_or_404("certification"),
        schemes=services.schemes_with_criteria(),
    )


def _page_or_404(slug: str) -> services.ContentPage:
    page = services.content_page(slug, str(get_locale()))
    if page is None:
        abort(404)
    return page


def _content_page(slug: str):  # type: ignore[no-untyped-def]
    return render_template("pages/content.html", page=_page_or_404(slug))


@bp.route("/healthz")
@public
def healthz():  # type: ignore[no-untyped-def]
    """Each part separately: 503 when the database or the image storage is down (the site cannot work,
    the failing part is named); "degraded" (200) when search or the job queue lags (pages still work)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        # Search counts and the queue live in the database: unknown while it is down; storage is its own.
        return jsonify(status="error", database="error", search={"status": "unknown"}, jobs={"status": "unknown"},
                       storage=images.storage_health()), 503
    found = search_health()
    queue = jobs.health()
    storage = images.storage_health()
    if storage["status"] != "ok":
        return jsonify(status="error", database="ok", search=found, jobs=queue, storage=storage), 503
    # The site serves its pages without search (they say search is unavailable): degraded, not down.
    fine = found["status"] == "ok" and queue["status"] == "ok"
    return jsonify(status="ok" if fine else "degraded", database="ok", search=found, jobs=queue, storage=storage)


class _QueueCollector(Collector):
    """Read at scrape time from the database: jobs by status and kind, the oldest due job's wait, the search
    outbox's backlog and age, e-mail waiting and failed."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = jobs.stats()
        depth = GaugeMetricFamily("marketplace_jobs", "Background jobs by status and kind (done ones excluded)",
                                  labels=["status", "kind"])
        for (status, kind), count in sorted(found["by_kind"].items()):
            depth.add_metric([status, kind], count)
        yield depth
        yield GaugeMetricFamily("marketplace_jobs_dead", "Jobs in the dead-letter list",
                                value=found["by_status"]["dead"])
        yield GaugeMetricFamily("marketplace_jobs_oldest_due_seconds", "How long the oldest due job has waited",
                                value=found["oldest_due_seconds"])
        outbox = search_outbox_stats()
        yield GaugeMetricFamily("marketplace_search_outbox_backlog", "Search changes not yet confirmed by the engine",
                                value=outbox["backlog"])
        yield GaugeMetricFamily("marketplace_search_outbox_age_seconds", "Age of the oldest unconfirmed search change",
                                value=outbox["oldest_seconds"])
        counts = mail.outbox_counts()
        messages = GaugeMetricFamily("marketplace_mail_messages", "E-mail in the outbox by status", labels=["status"])
        for status in ("pending", "sent", "failed", "dropped"):
            messages.add_metric([status], counts.get(status, 0))
        yield messages


@bp.route("/metrics")
@public  # who may read it is checked here: METRICS_TOKEN, or loopback only (observability.metrics_allowed)
def metrics():  # type: ignore[no-untyped-def]
    if not metrics_allowed():
        abort(404)
    return Response(exposition([_QueueCollector()]), mimetype=CONTENT_TYPE_LATEST)
