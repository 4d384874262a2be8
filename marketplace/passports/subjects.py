"""The passports of lots and products, read and created a batch at a time (for ``publishing.publish_many``), and
the subjects of a full publish streamed from their ids (memory stays flat, whatever their count)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from marketplace import memo
from marketplace.extensions import db
from marketplace.lots.models import Lot, LotContribution
from marketplace.organisations.models import Organisation
from marketplace.passports.models import Granularity, Passport
from marketplace.products.models import ProcessingStep, Product


def _next_status_index() -> int:
    return (db.session.scalar(select(func.max(Passport.status_index))) or 0) + 1


def passport_for(*, lot: Lot | None = None, product: Product | None = None) -> Passport:
    """The passport of a lot or product, created on first use."""
    column, subject = (Passport.lot_id, lot) if lot is not None else (Passport.product_id, product)
    assert subject is not None
    passport = db.session.scalar(select(Passport).where(column == subject.id))
    if passport is None:
        passport = Passport(
            public_id=secrets.token_hex(8), lot=lot, product=product, granularity=Granularity.batch,
            status_index=_next_status_index(),
        )
        db.session.add(passport)
        db.session.flush()
    return passport


def passports_for(subjects: Sequence[Lot | Product]) -> list[Passport]:
    """The passports of many lots and products (created on first use), read in one query per kind and
    created with one insert: ``passport_for`` for a batch."""
    found = _passports_of(subjects)
    missing = list({(isinstance(subject, Lot), subject.id): subject for subject in subjects
                    if (isinstance(subject, Lot), subject.id) not in found}.values())  # each once, in order
    if missing:  # one statement, then read back like the others (no ORM flush of each new passport)
        next_index = _next_status_index()
        db.session.execute(insert(Passport), [
            {"public_id": secrets.token_hex(8), "lot_id": subject.id if isinstance(subject, Lot) else None,
             "product_id": None if isinstance(subject, Lot) else subject.id, "granularity": Granularity.batch,
             "status_index": next_index + offset} for offset, subject in enumerate(missing)])
        created = _passports_of(missing)
        for passport in created.values():
            set_committed_value(passport, "versions", [])  # none yet: no query to find that out
        found.update(created)
    passports = [found[(isinstance(subject, Lot), subject.id)] for subject in subjects]
    lot_ids = [subject.id for subject in subjects if isinstance(subject, Lot)]
    if lot_ids:  # what each lot's credential reads (its contributions and their cooperatives), in three queries
        db.session.scalars(select(Lot).where(Lot.id.in_(lot_ids)).options(
            selectinload(Lot.contributions).selectinload(LotContribution.cooperative)
            .selectinload(Organisation.cooperative))).all()
        if memo.active():  # and their processing steps, in one query
            steps: dict[int, list[ProcessingStep]] = {lot_id: [] for lot_id in lot_ids}
            for step in db.session.scalars(select(ProcessingStep).where(ProcessingStep.lot_id.in_(lot_ids))
                                           .order_by(ProcessingStep.performed_on, ProcessingStep.id)):
                steps[step.lot_id].append(step)  # type: ignore[index]
            for lot_id, found in steps.items():
                memo.keep(("lot_steps", lot_id), found)
    return passports


def _passports_of(subjects: Sequence[Lot | Product]) -> dict[tuple[bool, int], Passport]:
    """The existing passports of ``subjects`` by (is a lot, subject id)."""
    found: dict[tuple[bool, int], Passport] = {}
    for is_lot, column in ((True, Passport.lot_id), (False, Passport.product_id)):
        ids = [subject.id for subject in subjects if isinstance(subject, Lot) is is_lot]
        for start in range(0, len(ids), 500):
            for passport in db.session.scalars(select(Passport).where(column.in_(ids[start:start + 500]))):
                found[(is_lot, passport.lot_id if is_lot else passport.product_id)] = passport  # type: ignore[index]
    return found


def passports_in_batches(subjects: Iterable[Lot | Product], size: int = 200) -> Iterator[Passport]:
    """The passports of ``subjects``, read and created a batch at a time (for ``publish_many``)."""
    subjects = iter(subjects)
    while chunk := list(itertools.islice(subjects, size)):
        yield from passports_for(chunk)


def _lot_steps(lot: Lot) -> list[ProcessingStep]:
    return memo.once(("lot_steps", lot.id), lambda: _read_lot_steps(lot))


def _read_lot_steps(lot: Lot) -> list[ProcessingStep]:
    return list(db.session.scalars(
        select(ProcessingStep).where(ProcessingStep.lot_id == lot.id).order_by(ProcessingStep.performed_on,
                                                                             ProcessingStep.id)
    ))


def in_chunks(model: Any, condition: Any, size: int = 200) -> Iterator[Any]:
    """Every ``model`` row matching ``condition`` in id order, read ``size`` at a time from a list of ids: the rows
    already published are no longer held (a full publish's memory stays flat)."""
    ids = db.session.scalars(select(model.id).where(condition).order_by(model.id)).all()
    for start in range(0, len(ids), size):
        yield from db.session.scalars(select(model).where(model.id.in_(ids[start:start + size])).order_by(model.id))
