"""Field types shared by every contract model.

Money, prices and quantities travel as decimal strings (``"100000"``) so no hop loses precision to
binary floats; timestamps are always timezone-aware and normalised to UTC so that event-time
comparisons across services never mix zones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer, StringConstraints


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number (NaN and Infinity are not allowed)")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _reject_float_nan(value: object) -> object:
    # Pydantic turns float('nan') into Decimal('NaN'); bool is an int subclass and never a number here.
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


_as_string = PlainSerializer(lambda v: str(v), return_type=str, when_used="json")

Num = Annotated[Decimal, BeforeValidator(_reject_float_nan), AfterValidator(_finite), _as_string]
"""Any finite decimal (indicators such as MACD may be negative)."""

NonNegative = Annotated[Decimal, BeforeValidator(_reject_float_nan), AfterValidator(_finite),
                        AfterValidator(_non_negative), _as_string]
Positive = Annotated[Decimal, BeforeValidator(_reject_float_nan), AfterValidator(_finite),
                     AfterValidator(_positive), _as_string]

Money = Num
"""Signed money: equity can fall below zero on a margin account, P&L is signed."""
Price = Positive
Quantity = NonNegative
SignedQuantity = Num
"""A position quantity; negative means short."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,5}([.\-/][A-Z]{1,2})?$")]
"""A US equity ticker: one to five capitals with an optional share-class suffix (``BRK.B``)."""

Account = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]
