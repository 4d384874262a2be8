"""Loading demo and reference rows idempotently: created or updated, and counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from marketplace.db import Base
from marketplace.extensions import db

M = TypeVar("M", bound=Base)


@dataclass
class LoadReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, model: type[Base], created: bool) -> None:
        target = self.created if created else self.updated
        target[model.__name__] = target.get(model.__name__, 0) + 1

    def summary(self) -> str:
        names = sorted(set(self.created) | set(self.updated))
        return ", ".join(f"{n}: {self.created.get(n, 0)} new, {self.updated.get(n, 0)} kept" for n in names)


def upsert(model: type[M], report: LoadReport, key: dict[str, Any], values: dict[str, Any]) -> M:
    """The row of ``model`` matching ``key``, created or updated with ``values``."""
    instance = db.session.scalar(select(model).filter_by(**key))
    created = instance is None
    if instance is None:
        instance = model(**key)
        db.session.add(instance)
    for name, value in values.items():
        if getattr(instance, name, None) != value:
            setattr(instance, name, value)
    report.count(model, created)
    db.session.flush()
    return instance
