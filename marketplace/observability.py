"""Request ids, structured (JSON) logs and Prometheus request metrics (issue 20).

* Every request gets an id: the ``X-Request-ID`` the proxy sent (if it looks like one) or a new one. It is
  in every log line written while the request runs and in the response's ``X-Request-ID`` header.
* ``LOG_FORMAT=json`` (the production default) writes one JSON object per line: time, level, logger,
  message, request_id, and for the access line method, path, status, duration_ms.
* Request counts and latency by endpoint go to a Prometheus registry; ``/metrics`` (pages/routes.py)
  serves them with the queue gauges. With several gunicorn workers set ``PROMETHEUS_MULTIPROC_DIR``
  (deploy/): each worker writes its samples there and ``/metrics`` adds them up.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("marketplace.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("marketplace_http_requests_total", "HTTP requests answered, by endpoint, method and status",
                   ["endpoint", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("marketplace_http_request_duration_seconds", "Time to answer a request, by endpoint",
                    ["endpoint", "method"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0))


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (None outside a request: CLI, worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with ``extra=`` are kept."""

    FIELDS = ("method", "path", "status", "duration_ms", "remote_addr", "job_id", "kind")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime  # type: ignore[assignment]


def configure_logging(app: Flask) -> None:
    """JSON lines (LOG_FORMAT=json) or plain text, with the request id, on stderr."""
    root = logging.getLogger()
    if any(getattr(handler, "_marketplace", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._marketplace = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    if app.config.get("LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Each label set's two metric children, found once (prometheus_client checks and joins the labels at every
# ``labels`` call). Endpoints, methods and statuses are few, so this stays small.
_counted: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _start() -> None:
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    response.headers["X-Request-ID"] = g.get("request_id") or ""
    if started is None:
        return response
    elapsed = time.perf_counter() - started
    endpoint = request.endpoint or "unmatched"  # 404s: one label, never the raw path
    if endpoint != "static":
        # Any token is a method to werkzeug: one the site knows is its own label, any other is "other", so
        # that a client inventing methods cannot add series (memory in every process) without end.
        method = request.method if request.method in METHODS else "other"
        status = response.status_code
        counted = _counted.get((endpoint, method, status))
        if counted is None:
            counted = _counted[(endpoint, method, status)] = (
                REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint, method))
        counted[0].inc()
        counted[1].observe(elapsed)
    if current_app.config.get("ACCESS_LOG", True) and endpoint != "static":
        log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed * 1000,
                 extra={"request_id": g.get("request_id"), "method": request.method, "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round(elapsed * 1000, 1), "remote_addr": request.remote_addr})
    return response


def metrics_allowed() -> bool:
    """``/metrics`` answers ``Authorization: Bearer METRICS_TOKEN`` when that is set; otherwise only
    clients on the machine itself (loopback). The nginx site in deploy/ refuses /metrics from outside."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "")
        return secrets.compare_digest(sent.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The Prometheus text: this process's request metrics (or every worker's, in multiprocess mode), plus
    ``extra`` collectors read from the database at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scraped = CollectorRegistry(auto_describe=False)
    for collector in extra:
        scraped.register(collector)
    return body + generate_latest(scraped)


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:  # the client's address and scheme as the proxy saw them (rate limits, logs, https URLs)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    configure_logging(app)
    app.before_request(_start)
    app.after_request(_finish)
