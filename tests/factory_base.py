"""The base of every factory_boy factory: the test's own session (set by the ``app`` fixture) and the one
password of test users. The factories are per domain, in ``tests/<domain>/factories.py``; ``tests/factories.py``
re-exports them all."""

from __future__ import annotations

from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from marketplace.accounts.services import TEST_PROFILE_HASHER

_state: dict[str, Session | None] = {"session": None}
PASSWORD = "correct horse battery"
_PASSWORD_HASH = TEST_PROFILE_HASHER.hash(PASSWORD)  # as the test profile's app hashes it


def use_session(session: Session | None) -> None:
    _state["session"] = session


def current_session() -> Session:
    session = _state["session"]
    if session is None:
        raise RuntimeError("Factories need the app fixture")
    return session


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "commit"
