"""``flask demo load`` and ``flask content load``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from marketplace import progress
from marketplace.demo.loader import load_all
from marketplace.uow import transactional

demo = AppGroup("demo", help="Demo content.")
content = AppGroup("content", help="Reference data and certification schemes.")


@demo.command("load")
@transactional
def load_demo() -> None:
    """Load the reference data, schemes and fictional demo content (idempotent)."""
    if current_app.config["ENV"] == "production":
        raise click.ClickException("Refusing to load demo content in production.")
    report = load_all(Path(current_app.config["CONTENT_DIR"]), announce=progress.steps)
    click.echo(f"Demo content loaded. {report.summary()}")


@content.command("load")
@transactional
def load_content() -> None:
    """Load aimags, soums and certification schemes only (safe in production)."""
    report = load_all(Path(current_app.config["CONTENT_DIR"]), demo=False)
    click.echo(f"Reference content loaded. {report.summary()}")
