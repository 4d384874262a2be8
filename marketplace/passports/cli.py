"""``flask passports verify`` and ``flask passports publish``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace import progress
from marketplace.passports import services
from marketplace.uow import transactional

passports = AppGroup("passports", help="Digital product passports.")


@passports.command("publish")
@transactional
def publish() -> None:
    """Publish a passport version for every listed lot and published product whose content changed, with a
    progress bar (plain counts when the output is not a terminal)."""
    published, unchanged = services.publish_all(
        lambda subjects, total: progress.track(subjects, total, "Publishing passports"))
    click.echo(f"Passports: {published} new versions published, {unchanged} unchanged.")


@passports.command("verify")
def verify() -> None:
    """Check every signature, every status entry and the whole log chain; exit 1 on any mismatch."""
    problems = services.verify_all()
    count = len(services.log_entries())
    if problems:
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"OK: {count} log entries chain end to end; every signature and status entry verifies.")
