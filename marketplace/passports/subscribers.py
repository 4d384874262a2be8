"""The passport listens to the domains (marketplace/events.py): a change its credentials show publishes a
new version, in the announcer's unit of work (flush, never commit). Connected by ``create_app``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from marketplace import events
from marketplace.extensions import db
from marketplace.jobs import services as jobs
from marketplace.lots.models import Lot, LotContribution, LotStatus
from marketplace.passports import log as merkle_log
from marketplace.passports import services
from marketplace.passports.models import Passport
from marketplace.passports.services import issue_status_lists, passport_for, publish, status_indexes
from marketplace.products.models import Product, ProductSource, ProductStatus


def publish_lot(lot: Lot, **_: Any) -> None:
    publish(passport_for(lot=lot))


def publish_lots(_cooperative: Any, lots: list[Lot], **_: Any) -> None:
    """A batch of lots (an import): their passports are signed in batches and their log entries appended once per
    batch (``publish_many``), not one log append and checkpoint per lot."""
    services.publish_many(services.passports_in_batches(lots))  # read 200 at a time


def publish_product(product: Product, **_: Any) -> None:
    publish(passport_for(product=product))


LEDGER_JOB = "passports.republish_ledger"
PRACTICE_JOB = "passports.republish_practice"


def republish_for_ledger(cooperative_id: int, **_: Any) -> None:
    """A ledger entry enqueues the republishing of the passports that show it, in the same transaction: the
    web request stays fast whatever the passport count (issue 20); ``flask worker`` publishes them."""
    jobs.enqueue(LEDGER_JOB, {"cooperative_id": cooperative_id}, key=f"{LEDGER_JOB}:{cooperative_id}")


def republish_for_practice(msme_id: int, **_: Any) -> None:
    """An accepted practice report enqueues the republishing of the MSME's products' passports."""
    jobs.enqueue(PRACTICE_JOB, {"msme_id": msme_id}, key=f"{PRACTICE_JOB}:{msme_id}")


ORGANISATION_JOB = "passports.republish_organisation"


def republish_for_organisation(organisation: Any, **_: Any) -> None:
    """An organisation's details changed: one coalesced job republishes the passports naming it; the request
    publishes nothing."""
    jobs.enqueue(ORGANISATION_JOB, {"organisation_id": organisation.id},
                 key=f"{ORGANISATION_JOB}:{organisation.id}")


def republish_organisation_passports(organisation_id: int) -> None:
    """(The job.) The passports of its lots and of the products made from them (a cooperative), and of its
    products (an MSME), in batches; unchanged ones get no new version."""
    republish_ledger_passports(organisation_id)
    services.publish_many(services.passports_in_batches(db.session.scalars(
        select(Product).where(Product.organisation_id == organisation_id, Product.status == ProductStatus.published,
                              Product.id.in_(select(Passport.product_id))).order_by(Product.id))),
        commit_every=services.COMMIT_EVERY)


def republish_ledger_passports(cooperative_id: int) -> None:
    """(The job.) The passports of the cooperative's listed lots, and of the published products made from any of
    its lots, show its ledger: publish their new versions (so the passport page's ETag changes too).

    Lots and products without a passport yet get one, with the ledger in it, when they are first published.
    """
    own_lots = select(Lot.id).where(
        (Lot.cooperative_id == cooperative_id)
        | Lot.id.in_(select(LotContribution.lot_id).where(LotContribution.cooperative_id == cooperative_id)))
    lots = db.session.scalars(
        select(Lot).where(Lot.status == LotStatus.listed, Lot.id.in_(select(Passport.lot_id)), Lot.id.in_(own_lots))
        .order_by(Lot.id))
    services.publish_many(services.passports_in_batches(lots),  # read 200 at a time
                          commit_every=services.COMMIT_EVERY)  # (a job: committed 2,000 at a time)
    products = db.session.scalars(
        select(Product).where(Product.status == ProductStatus.published, Product.id.in_(select(Passport.product_id)),
                              Product.id.in_(select(ProductSource.product_id).where(ProductSource.lot_id.in_(own_lots))))
        .order_by(Product.id))
    services.publish_many(services.passports_in_batches(products), commit_every=services.COMMIT_EVERY)


def republish_practice_passports(msme_id: int) -> None:
    """(The job.) The MSME's products' passports show its latest accepted practice report."""
    services.publish_many(services.passports_in_batches(db.session.scalars(
        select(Product).where(Product.organisation_id == msme_id, Product.id.in_(select(Passport.product_id))))),
        commit_every=services.COMMIT_EVERY)


def republish_for_service(product: Product, **_: Any) -> None:
    """A closed repair or take-back is part of the item's history: its passport gets a new version."""
    if db.session.scalar(select(Passport.id).where(Passport.product_id == product.id)) is not None:
        publish(passport_for(product=product))


STATUS_JOB = "passports.status"


def log_status_change(*_: Any, **__: Any) -> None:
    """A certificate's status change changes passports' status-list bits: one coalesced job, enqueued in the
    same transaction, logs each change and re-issues the status lists (no scan inside the request)."""
    jobs.enqueue(STATUS_JOB, key=STATUS_JOB)


def refresh_status() -> None:
    """(The job, also every few minutes.) Log every passport whose status bits changed (a certificate
    suspended, revoked or expired) and issue the status lists that changed or near their ``validUntil``."""
    flagged = status_indexes()
    merkle_log.record_status(flagged)
    issue_status_lists(flagged)


def connect() -> None:
    merkle_log.connect()
    events.certificate_status_set.connect(log_status_change, weak=False)  # sent on every status change
    events.lot_listed.connect(publish_lot, weak=False)
    events.lots_listed.connect(publish_lots, weak=False)
    events.product_published.connect(publish_product, weak=False)
    events.ledger_entry_recorded.connect(republish_for_ledger, weak=False)
    events.practice_report_accepted.connect(republish_for_practice, weak=False)
    events.service_closed.connect(republish_for_service, weak=False)
    jobs.register(LEDGER_JOB, republish_ledger_passports)
    jobs.register(PRACTICE_JOB, republish_practice_passports)
    jobs.register(STATUS_JOB, refresh_status)
    events.organisation_changed.connect(republish_for_organisation, weak=False)
    jobs.register(ORGANISATION_JOB, republish_organisation_passports)
    jobs.schedule(STATUS_JOB, STATUS_JOB, dt.timedelta(minutes=4))  # lists stay valid 10 minutes
