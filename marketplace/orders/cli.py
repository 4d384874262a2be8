"""``flask orders expire``: the worker that releases expired reservations."""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from marketplace.extensions import db
from marketplace.orders.services import release_expired
from marketplace.uow import transactional

orders = AppGroup("orders", help="Orders and reservations.")


@orders.command("expire")
@click.option("--every", type=int, default=0, help="Keep running, checking every N seconds (0: once).")
def expire(every: int) -> None:
    """Release the stock of reservations whose hold has run out."""
    while True:
        released = transactional(release_expired)()
        click.echo(f"{released} expired reservation(s) released.")
        db.session.remove()
        if not every:
            return
        time.sleep(every)
