"""``flask mail``: the outbox worker, and a local SMTP server for development."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from marketplace.extensions import db
from marketplace.notifications import notify, services
from marketplace.notifications.smtpd import serve
from marketplace.uow import transactional

REMINDER_INTERVAL = 3600.0


@click.group("mail")
def mail() -> None:
    """Transactional e-mail: send the outbox, inspect it, run a local SMTP server."""


@mail.command("send")
@click.option("--limit", default=200, show_default=True, help="At most this many messages.")
@with_appcontext
def send(limit: int) -> None:
    """Send the due messages once and report."""
    counts = services.deliver(limit=limit)
    click.echo(", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "Nothing to send.")


@mail.command("worker")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between two looks at the outbox.")
@with_appcontext
def worker(interval: float) -> None:
    """Send the outbox continuously, retrying with backoff while the SMTP server is unreachable."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"Mail worker: SMTP {app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}, every {interval}s")
    next_reminders = 0.0
    while not stopping:
        try:
            if time.monotonic() >= next_reminders:  # hourly: quotes, reservations, certificates expiring

                notify.reminders()
                db.session.commit()
                next_reminders = time.monotonic() + REMINDER_INTERVAL
            counts = services.deliver()
        finally:
            db.session.remove()
        if counts:
            click.echo(", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
        else:
            time.sleep(interval)


@mail.command("reminders")
@with_appcontext
@transactional
def reminders() -> None:
    """Remind of quotes, reservations and certificates about to expire (each once)."""

    click.echo(f"{notify.reminders()} reminders.")


@mail.command("outbox")
@with_appcontext
def outbox() -> None:
    """How many messages are pending, sent, failed or dropped."""
    counts = services.outbox_counts()
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "The outbox is empty.")


@mail.command("retry")
@with_appcontext
@transactional
def retry() -> None:
    """Queue the failed messages again."""
    click.echo(f"{services.retry_failed()} messages queued again.")


@mail.command("smtpd")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True)
@click.option("--maildir", type=click.Path(path_type=Path), default=None,
              help="Where to keep what arrives (a Maildir; default instance/mail).")
def smtpd(host: str, port: int, maildir: Path | None) -> None:
    """A local SMTP server (aiosmtpd) for development: keeps every message in a Maildir."""

    target = maildir or Path(current_app.instance_path) / "mail"
    serve(host, port, target)
