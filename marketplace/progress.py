"""Progress of long commands: a bar on a terminal, plain counts when the output goes to a file or a pipe."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

import click

T = TypeVar("T")


def _is_terminal(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def track(items: Iterable[T], total: int, label: str, *, stream: IO[str] | None = None) -> Iterator[T]:
    """Yield ``items``, reporting progress: click's bar on a terminal; otherwise "label: done/total" lines at
    every tenth and at the end (log files stay short and readable)."""
    out = stream or sys.stderr
    if _is_terminal(out):
        with click.progressbar(items, length=total, label=label, file=out) as bar:
            yield from bar
        return
    done = 0
    step = max(1, -(-total // 10))  # at most ten lines between the first and the last
    click.echo(f"{label}: 0/{total}", file=out)
    for item in items:
        yield item
        done += 1
        if done % step == 0 and done != total:
            click.echo(f"{label}: {done}/{total}", file=out)
    click.echo(f"{label}: {done}/{total} done", file=out)


def steps(names: list[str], *, stream: IO[str] | None = None) -> Iterator[str]:
    """Announce each of a command's named steps as "[2/4] name" (terminal or not)."""
    out = stream or sys.stderr
    for number, name in enumerate(names, start=1):
        click.echo(f"[{number}/{len(names)}] {name}…", file=out)
        yield name
