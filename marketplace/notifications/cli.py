"""``flask mail``: send or inspect the outbox by hand, and a local SMTP server for development. The job
worker (``flask worker``, marketplace/jobs) sends the outbox continuously."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from marketplace.notifications import notify, services
from marketplace.notifications.smtpd import serve
from marketplace.uow import transactional


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
