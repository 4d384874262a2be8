"""Samples: a buyer asks for a sample of a lot; staff send it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace import events
from marketplace.accounts.models import User
from marketplace.db import today
from marketplace.extensions import db
from marketplace.lots.models import Lot
from marketplace.orders import rules
from marketplace.orders.common import (
    OrderError,
)
from marketplace.orders.locking import serialise_form
from marketplace.orders.models import (
    SampleRequest,
    SampleStatus,
)
from marketplace.organisations.services import verification_problem


def request_sample(*, lot: Lot, buyer_id: int, user: User, address: str, form_id: str) -> SampleRequest:
    """Ask for a sample of ``lot``; the same form sent twice returns the first request."""
    serialise_form(SampleRequest, form_id)
    existing = db.session.scalar(select(SampleRequest).where(SampleRequest.form_id == form_id))
    if existing is not None:
        return existing
    if (problem := rules.offer_problem(lot, today())) is not None:
        raise OrderError(problem, 409, "address")
    if (problem := verification_problem(buyer_id)) is not None:
        raise OrderError(problem, 403, "address")
    sample = SampleRequest(lot=lot, buyer_id=buyer_id, requested_by=user, address=address.strip(), form_id=form_id)
    db.session.add(sample)
    db.session.flush()
    return sample


def open_samples() -> list[SampleRequest]:
    return list(db.session.scalars(
        select(SampleRequest).where(SampleRequest.status == SampleStatus.requested)
        .order_by(SampleRequest.created_at, SampleRequest.id)
        .options(selectinload(SampleRequest.lot), selectinload(SampleRequest.buyer))
    ))


def mark_sample_sent(sample: SampleRequest) -> None:
    if sample.status is SampleStatus.sent:
        raise OrderError(_l("This sample has already been sent."))
    sample.status = SampleStatus.sent
    db.session.flush()
    events.sample_sent.send(sample)


def buyer_samples(buyer_ids: set[int]) -> list[SampleRequest]:
    return list(db.session.scalars(
        select(SampleRequest).where(SampleRequest.buyer_id.in_(buyer_ids))
        .order_by(SampleRequest.created_at.desc(), SampleRequest.id.desc())
    ))
