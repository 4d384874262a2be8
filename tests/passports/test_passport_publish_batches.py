"""Publishing in batches (issue 26): ``publish_many`` publishes exactly the bytes, hashes, signatures and log
entries that publishing each passport alone would, for the same data at the same time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import Text, cast, select

from marketplace.extensions import db
from marketplace.lots.models import Lot, LotStatus
from marketplace.passports import log as merkle_log
from marketplace.passports import services, signing_pool
from marketplace.passports.log_models import PassportLogLeaf
from marketplace.passports.models import Passport, PassportVersion
from marketplace.passports.signing import canonical_json, get_signer
from marketplace.products.models import Product, ProductStatus

AT = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


def _subjects() -> list[Lot | Product]:
    lots = db.session.scalars(select(Lot).where(Lot.status == LotStatus.listed).order_by(Lot.id)).all()
    products = db.session.scalars(select(Product).where(Product.status == ProductStatus.published)
                                  .order_by(Product.id)).all()
    return [*lots, *products]


def _change(subjects: list[Lot | Product]) -> None:
    """New content for every passport (a lot's herder price, a product's weight)."""
    for subject in subjects:
        if isinstance(subject, Lot):
            subject.herder_price_minor = (subject.herder_price_minor or 0) + 1
        else:
            subject.weight_g = subject.weight_g + Decimal("0.1")
    db.session.flush()


def _published(since: int) -> dict[str, Any]:
    """What was published after version id ``since``: each version's stored forms (and the exact text of their
    JSON columns), hashes, signatures and log entry, by passport and number."""
    found = {}
    for version in db.session.scalars(select(PassportVersion).where(PassportVersion.id > since)):
        leaf = db.session.scalar(select(PassportLogLeaf).where(PassportLogLeaf.version_id == version.id))
        stored = db.session.execute(select(cast(PassportVersion.credential, Text),
                                           cast(PassportVersion.credential_070, Text))
                                    .where(PassportVersion.id == version.id)).one()
        found[(version.passport.public_id, version.number)] = (tuple(stored),
            canonical_json(version.credential), version.content_hash, version.signature,
            canonical_json(version.credential_070), version.content_hash_070, version.signature_070,
            version.issued_at.replace(tzinfo=dt.UTC) if version.issued_at.tzinfo is None else version.issued_at,
            leaf.index if leaf else None, leaf.data if leaf else None, leaf.leaf_hash if leaf else None,
        )
    return found


def _publish_and_read(one_at_a_time: bool, workers: int = 0) -> dict[str, Any]:
    since = db.session.scalar(select(PassportVersion.id).order_by(PassportVersion.id.desc()).limit(1)) or 0
    savepoint = db.session.begin_nested()
    subjects = _subjects()
    _change(subjects)
    if one_at_a_time:
        for subject in subjects:
            passport = services.passport_for(**({"lot": subject} if isinstance(subject, Lot) else
                                                {"product": subject}))
            services.publish(passport, issued_at=AT)
    else:
        services.publish_many(services.passports_in_batches(subjects, 3), batch=4, issued_at=AT,
                              workers=workers)
    db.session.flush()
    found = _published(since)
    savepoint.rollback()
    db.session.expire_all()
    return found


def test_a_batch_publishes_the_bytes_publishing_one_at_a_time_gives(demo_app: Flask) -> None:
    with demo_app.app_context():
        passports = db.session.scalar(select(db.func.count()).select_from(Passport))
        alone = _publish_and_read(one_at_a_time=True)
        assert len(alone) > 5
        for workers in (0, 2):  # signed in this process, and by two worker processes
            batched = _publish_and_read(one_at_a_time=False, workers=workers)
            assert batched.keys() == alone.keys()
            for key, forms in alone.items():
                assert batched[key] == forms, (workers, key)
        # and the rolled-back runs left the published passports as they were: nothing new to publish
        assert services.publish_many(services.passports_in_batches(_subjects())) == (0, passports)


def test_when_the_signing_workers_die_the_batch_is_signed_in_the_publishing_process(app: Flask) -> None:
    forms = [({"credentialSubject": {"n": n}}, {"credentialSubject": {"n": n, "form": "0.7.0"}}) for n in range(4)]
    with app.app_context():
        signer = get_signer()
        expected = [signing_pool.sign_forms(pair, signer) for pair in forms]
        pool = signing_pool.SigningPool(signer, 2)
        try:
            assert pool.submit(forms, full=True).result() == expected  # by the workers
            assert pool._pool is not None
            for process in list(pool._pool._processes.values()):  # the workers die
                process.kill()
                process.join()
            assert pool.submit(forms, full=True).result() == expected  # signed here instead, the same bytes
            assert pool.submit(forms, full=True).result() == expected
        finally:
            pool.close()


def _new_versions(since: int) -> list[tuple[int, int]]:
    return [tuple(row) for row in db.session.execute(  # type: ignore[misc]
        select(PassportVersion.passport_id, PassportVersion.number).where(PassportVersion.id > since)
        .order_by(PassportVersion.id))]


def test_a_job_commits_batch_by_batch_and_a_failure_midway_leaves_a_consistent_log(demo_app: Flask) -> None:
    """``commit_every`` (the jobs, the CLI): each commit holds whole batches and their log entries; a failure
    midway leaves a log that verifies, and publishing again publishes only the passports that did not commit,
    each once."""
    with demo_app.app_context():
        since = db.session.scalar(select(db.func.max(PassportVersion.id))) or 0
        subjects = _subjects()
        _change(subjects)
        db.session.commit()
        passports = services.passports_for(subjects)
        assert len(passports) > 8

        def failing_midway() -> Any:
            yield from passports[:7]
            raise RuntimeError("the worker was stopped")

        try:
            services.publish_many(failing_midway(), batch=2, workers=0, commit_every=1)
        except RuntimeError:
            db.session.rollback()
        committed = _new_versions(since)
        assert 0 < len(committed) < 7  # the batches appended before the failure, the rest rolled back
        assert len(committed) % 2 == 0  # whole batches
        assert merkle_log.verify_log(services.status_indexes()) == []
        published, unchanged = services.publish_many(services.passports_for(subjects), batch=2, workers=0,
                                                     commit_every=1)
        assert unchanged >= len(committed)
        # at once, in the same session: each passport's current version is the one just inserted
        assert services.publish_many(passports, batch=2, workers=0) == (0, len(passports))  # none twice
        db.session.commit()
        new = _new_versions(since)
        assert set(committed) <= set(new)
        assert published == len(new) - len(committed)  # the rest, and only the rest
        assert len({passport_id for passport_id, _ in new}) == len(new)  # one new version per passport
        assert merkle_log.verify_log(services.status_indexes()) == []
