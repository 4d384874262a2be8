"""The search outbox: one row per change to a searchable row, written in the same transaction."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, TimestampMixin


class SearchOutbox(TimestampMixin, Base):
    """``key`` is the row's id in ``index_name``; the document is rebuilt from the database when applied.

    ``task_uid`` is set once the change was sent to an engine that indexes asynchronously (Meilisearch);
    the row is deleted when that task is confirmed, and sent again if the task failed.
    """

    __tablename__ = "search_outbox"
    __table_args__ = (Index("ix_search_outbox_task_uid", "task_uid"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    index_name: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40))
    task_uid: Mapped[int | None] = mapped_column(BigInteger)
