"""Declarative base, naming convention and shared column types."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Enum, MetaData, Numeric, String, event, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Exact decimals: masses in kg (to the gram), lab values and percentages.
Kg = Annotated[Decimal, mapped_column(Numeric(12, 3))]
Percent = Annotated[Decimal, mapped_column(Numeric(5, 2))]
Currency = Annotated[str, mapped_column(String(3))]  # ISO 4217 code
Created = Annotated[
    dt.datetime,
    mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now()),
]


class TimestampMixin:
    created_at: Mapped[Created]


def enum_column(enum_cls: type[enum.Enum], length: int = 30) -> Enum:
    """Enums are stored as strings checked by the application (portable across databases)."""
    return Enum(
        enum_cls, native_enum=False, length=length, validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


BUSINESS_TZ = ZoneInfo("Asia/Ulaanbaatar")


def as_utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as an aware UTC time: SQLite hands its times back naive (they are stored in UTC),
    PostgreSQL aware."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def business_date(moment: dt.datetime) -> dt.date:
    """The day in Ulaanbaatar of a stored time."""
    return as_utc(moment).astimezone(BUSINESS_TZ).date()


def today() -> dt.date:
    """Today's date in Ulaanbaatar, where certificates and prices are dated."""
    return dt.datetime.now(BUSINESS_TZ).date()


def immutable(model: type[Base], error: type[Exception], what: str) -> None:
    """Refuse any UPDATE or DELETE of ``model`` rows through the ORM: they are written once."""
    def refuse_update(mapper: object, connection: object, target: object) -> None:
        raise error(f"{what} cannot change once written; record a new one instead.")

    def refuse_delete(mapper: object, connection: object, target: object) -> None:
        raise error(f"{what} cannot be deleted.")

    event.listen(model, "before_update", refuse_update)
    event.listen(model, "before_delete", refuse_delete)
