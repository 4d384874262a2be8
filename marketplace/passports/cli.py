"""``flask passports verify`` and ``flask passports publish``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from marketplace.passports import keys, services
from marketplace.uow import transactional

passports = AppGroup("passports", help="Digital product passports.")


@passports.command("publish")
@transactional
def publish() -> None:
    """Publish a passport version for every listed lot and published product whose content changed."""
    published, unchanged = services.publish_all()
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


@passports.command("rotate-key")
@click.argument("slug")
@transactional
def rotate_key(slug: str) -> None:
    """Retire an issuing organisation's signing key and start signing with a new one (the old key stays in its
    DID document, so what it signed still verifies)."""
    org = keys.organisation_by_slug(slug)
    if org is None:
        raise click.ClickException(f"There is no organisation {slug[:80]!r}.")
    try:
        stored = keys.rotate(org)
    except keys.KeyRotationError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{org.name}: now signing with {keys.did_of(org)}#key-{stored.number}; "
               f"{stored.number - 1} earlier key(s) kept in its DID document.")
