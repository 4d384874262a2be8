"""``flask funds premiums-due``: bring the premium ledger up to date with the confirmed allocations."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.funds import services
from marketplace.uow import transactional

funds = AppGroup("funds", help="The premium and cooperative funds ledger.")


@funds.command("premiums-due")
@transactional
def premiums_due() -> None:
    """Record the premium due for every confirmed allocation that is not in the ledger yet (idempotent)."""
    created = services.ensure_premiums_due()
    click.echo(f"Premium ledger: {created} premium-due entr{'y' if created == 1 else 'ies'} recorded "
               f"for confirmed allocations not yet in the ledger.")
