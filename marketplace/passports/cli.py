"""``flask passports verify`` and ``flask passports publish``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from marketplace import progress
from marketplace.passports import bundle as passport_bundle
from marketplace.passports import export as passport_export
from marketplace.passports import keys, services
from marketplace.passports import log as merkle_log
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
    problems = services.verify_all() + merkle_log.verify_log(services.status_indexes())
    count = len(services.log_entries())
    if problems:
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"OK: {count} log entries chain end to end; every signature and status entry verifies.")
    latest = merkle_log.latest_checkpoint()
    if latest is not None:
        click.echo(f"OK: the Merkle log's {latest.tree_size} entries match every signed checkpoint, each consistent "
                   "with the one before; every status change is logged.")


@passports.command("checkpoint")
@transactional
def checkpoint() -> None:
    """Log any status change not yet logged (a certificate that expired, say) and sign a checkpoint."""
    backfilled = merkle_log.backfill()
    flagged = services.status_indexes()
    changed = merkle_log.record_status(flagged)
    services.issue_status_lists(flagged)
    signed = merkle_log.sign_checkpoint()
    latest = merkle_log.latest_checkpoint()
    size = latest.tree_size if latest is not None else 0
    click.echo(f"Passport log: {backfilled} earlier versions and {changed} status changes logged; "
               f"{'new' if signed else 'latest'} checkpoint covers {size} entries.")


@passports.command("bundle")
@click.argument("public_id")
@click.argument("out", type=click.Path(dir_okay=True, writable=True))
def bundle(public_id: str, out: str) -> None:
    """Write the offline bundle of a passport (the zip /passports/<id>/bundle serves) to OUT (a file or folder)."""
    passport = services.get_passport(public_id)
    if passport is None or passport.current is None:
        raise click.ClickException(f"There is no published passport {public_id[:40]}.")
    name, data = passport_bundle.build(passport)
    target = Path(out) / name if Path(out).is_dir() else Path(out)
    target.write_bytes(data)
    click.echo(f"Wrote {target} ({len(data)} bytes).")


@passports.command("export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def export(target: Path) -> None:
    """Write every passport (pages in six languages, JSON-LD, JWT, QR, bundle), the status lists, the log, the
    DID documents and the contexts as static files into TARGET, for any web server or CDN to serve."""
    if target.exists() and any(target.iterdir()) and not (target / "export.json").is_file():
        raise click.ClickException(f"{target} is not empty and holds no earlier export; choose an empty folder.")
    passport_export.clear(target)
    counts = passport_export.export(target)
    click.echo(f"Exported {counts['passports']} passports as {counts['files']} files into {target}.")


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
