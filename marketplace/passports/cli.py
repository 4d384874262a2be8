"""``flask passports verify`` and ``flask passports publish``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from marketplace import progress
from marketplace.extensions import db
from marketplace.passports import bundle as passport_bundle
from marketplace.passports import export as passport_export
from marketplace.passports import keys, log_since, services, verification
from marketplace.passports import log as merkle_log
from marketplace.passports.log_models import PassportCheckpoint
from marketplace.passports.signing import SignatureInvalidError, get_signer
from marketplace.uow import transactional

passports = AppGroup("passports", help="Digital product passports.")


@passports.command("publish")
@transactional
def publish() -> None:
    """Publish a passport version for every listed lot and published product whose content changed, with a
    progress bar (plain counts when the output is not a terminal)."""
    published, unchanged = services.publish_all(
        lambda subjects, total: progress.track(subjects, total, "Publishing passports"),
        commit_every=services.COMMIT_EVERY)  # committed 2,000 at a time
    click.echo(f"Passports: {published} new versions published, {unchanged} unchanged.")


@passports.command("verify")
@click.option("--since", "since", metavar="CHECKPOINT", default=None,
              help="Check only what was appended after this checkpoint: a file saved from /passports/tlog/checkpoint "
                   "(a signed note), or the tree size of a stored checkpoint.")
def verify(since: str | None) -> None:
    """Check every signature, every status entry and the Merkle log; exit 1 on any mismatch."""
    if since is not None:
        size, root = _trusted_checkpoint(since)
        problems, version_ids = log_since.verify_since(size, root, services.status_indexes)
        problems = services.verify_all(version_ids) + problems
        if problems:
            for problem in problems:
                click.echo(f"FAIL {problem}", err=True)
            raise click.exceptions.Exit(1)
        latest = merkle_log.latest_checkpoint()
        click.echo(f"OK: the {(latest.tree_size if latest else size) - size} entries appended since the checkpoint "
                   f"of size {size} verify, and the latest checkpoint is consistent with it.")
        return
    checks = verification.start_checks()  # the versions' signatures, in worker processes for a large log …
    log_problems = merkle_log.verify_log(services.status_indexes(), contents=False)  # … while the log is checked
    problems = checks.problems() + log_problems
    if problems:
        for problem in problems:
            click.echo(f"FAIL {problem}", err=True)
        raise click.exceptions.Exit(1)
    click.echo("OK: every version's hash, signature and status entry verifies.")
    latest = merkle_log.latest_checkpoint()
    if latest is not None:
        click.echo(f"OK: the Merkle log's {latest.tree_size} entries match every signed checkpoint, each consistent "
                   "with the one before; every status change is logged.")


def _trusted_checkpoint(since: str) -> tuple[int, bytes]:
    """(size, root) of the checkpoint ``--since`` names; ClickException when it cannot be trusted."""
    if since.isdigit() and len(since) < 13:
        stored = db.session.scalar(select(PassportCheckpoint).where(PassportCheckpoint.tree_size == int(since))
                                   .order_by(PassportCheckpoint.id).limit(1))
        if stored is None:
            raise click.ClickException(f"No stored checkpoint has {since} entries.")
        try:
            payload = get_signer().verify(stored.jws)
            return int(payload["treeSize"]), bytes.fromhex(str(payload["rootHash"]))
        except (SignatureInvalidError, KeyError, TypeError, ValueError) as error:
            raise click.ClickException(f"The stored checkpoint of size {since} is not signed by the Union.") from error
    path = Path(since)
    if not path.is_file():
        raise click.ClickException(f"{since[:200]} is neither a checkpoint file nor a tree size.")
    try:
        return log_since.parse_checkpoint_note(path.read_text(encoding="utf-8"), get_signer())
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{since[:200]}: {error}") from error


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
