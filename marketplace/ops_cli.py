"""``flask storage export DIR`` / ``import DIR``: the stored files for backups (deploy/backup.sh)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from marketplace import storage as storage_module
from marketplace.products.images import get_store

storage = AppGroup("storage", help="Stored images and documents (local folder or S3 bucket): backup and restore.")


@storage.command("export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
def export(target: Path) -> None:
    """Copy every stored file into TARGET."""
    click.echo(f"{storage_module.export_files(get_store(), target)} file(s) exported to {target}.")


@storage.command("import")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_(source: Path) -> None:
    """Write every file under SOURCE into the store."""
    click.echo(f"{storage_module.import_files(get_store(), source)} file(s) imported from {source}.")
