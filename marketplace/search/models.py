"""The search outbox: one row per change to a searchable row, written in the same transaction."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.db import Base, TimestampMixin


class SearchOutbox(TimestampMixin, Base):
    """``key`` is the row's id in ``index_name``; the document is rebuilt from the database when applied."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    index_name: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40))
