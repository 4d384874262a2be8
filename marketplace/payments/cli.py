"""``flask shop release-stale``: give back the stock of consumer orders left unpaid (their intents cancelled)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from marketplace.payments.gateway import PaymentsUnavailableError, gateway
from marketplace.payments.services import release_stale
from marketplace.uow import transactional

shop = AppGroup("shop", help="The consumer shop.")


@shop.command("release-stale")
@click.option("--minutes", type=click.IntRange(5, 10_080), default=60, show_default=True,
              help="Release orders left unpaid for at least this long.")
def release_stale_command(minutes: int) -> None:
    """Cancel the PaymentIntents of orders unpaid for MINUTES and put their sizes back in stock."""
    try:
        released = transactional(release_stale)(gateway(), older_than=dt.timedelta(minutes=minutes))
    except PaymentsUnavailableError as error:
        raise click.ClickException(f"Stripe could not be reached, nothing was released: {error}") from error
    click.echo(f"{released} unpaid order(s) released.")
