"""Alpaca frames (and file rows) to ``MarketBar`` / ``MarketQuote``, or a reason code why not.

A frame the contract refuses is a fact about the source, not a crash: :class:`BadFrame` carries a
stable reason code (counted in metrics, written as ``x-dlq-reason``) and the validation detail.
Prices arrive from msgpack as binary floats; ``Decimal(repr(x))`` keeps the shortest decimal that
round-trips (``101.1`` stays ``101.1``), where ``Decimal(x)`` would carry fifty digits of noise the
contract refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from torghut_contracts.models import BarOrigin, MarketBar, MarketQuote

SYMBOL = re.compile(r"^[A-Z]{1,5}([.\-/][A-Z]{1,2})?$")
"""The contract's ``Symbol`` pattern, checked first so a bad symbol has its own reason code."""

_BAR_FIELDS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
_FRACTION = re.compile(r"(\.\d{6})\d+")


class Reason:
    """Reason codes of refused frames (metrics label, ``x-dlq-reason``); README lists them."""

    INVALID_SYMBOL = "invalid_symbol"
    MISSING_FIELD = "missing_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_NUMBER = "invalid_number"
    NEGATIVE_VOLUME = "negative_volume"
    HIGH_BELOW_LOW = "high_below_low"
    PRICE_OUTSIDE_RANGE = "price_outside_range"
    INVALID_VALUE = "invalid_value"
    NOT_IN_UNIVERSE = "not_in_universe"
    """Not dead-lettered: a valid symbol we did not ask for is skipped and counted."""


class BadFrame(ValueError):
    """The frame cannot become a contract message; ``reason`` is one of :class:`Reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def to_decimal(value: Any, name: str) -> Decimal:
    """A number from the wire (float, int, str) as the decimal it was written as."""
    if isinstance(value, bool):
        raise BadFrame(Reason.INVALID_NUMBER, f"{name} is a boolean")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BadFrame(Reason.INVALID_NUMBER, f"{name} is not a number: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise BadFrame(Reason.INVALID_NUMBER, f"{name} is not finite")
    return number


def to_utc(value: Any, name: str = "t") -> datetime:
    """An aware UTC datetime from a datetime or an RFC 3339 string (nanoseconds cut to micro)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
        except ValueError:
            raise BadFrame(Reason.INVALID_TIMESTAMP, f"{name} is not RFC 3339: {value[:40]!r}") from None
    else:
        raise BadFrame(Reason.INVALID_TIMESTAMP, f"{name} is missing or not a time: {type(value).__name__}")
    if parsed.tzinfo is None:
        raise BadFrame(Reason.INVALID_TIMESTAMP, f"{name} has no time zone")
    return parsed.astimezone(UTC)


def check_symbol(value: Any) -> str:
    if not isinstance(value, str) or not SYMBOL.match(value):
        raise BadFrame(Reason.INVALID_SYMBOL, f"symbol {str(value)[:20]!r} is not a US equity ticker")
    return value


def _require(frame: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if frame.get(k) is None]
    if missing:
        raise BadFrame(Reason.MISSING_FIELD, f"missing {', '.join(missing)}")


def _reason_of(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ()
    if not loc:  # the model validator: the range check
        return Reason.HIGH_BELOW_LOW if "below low" in str(first.get("msg")) else Reason.PRICE_OUTSIDE_RANGE
    if loc[0] == "volume":
        return Reason.NEGATIVE_VOLUME if "negative" in str(first.get("msg")) else Reason.INVALID_VALUE
    if loc[0] == "symbol":
        return Reason.INVALID_SYMBOL
    return Reason.INVALID_VALUE


def bar_from_frame(frame: Mapping[str, Any], *, origin: BarOrigin, source: str, late: bool = False) -> MarketBar:
    """An Alpaca bar (``b``, ``u`` or a REST bar: ``S o h l c v t n vw``) as a ``MarketBar``."""
    symbol = check_symbol(frame.get("S"))
    _require(frame, ("t", *_BAR_FIELDS))
    values: dict[str, Any] = {name: to_decimal(frame[key], name) for key, name in _BAR_FIELDS.items()}
    start = to_utc(frame["t"])
    trade_count = frame.get("n")
    vwap = frame.get("vw")
    try:
        return MarketBar(
            symbol=symbol, start=start, source=source, origin=origin, late=late, **values,
            trade_count=int(to_decimal(trade_count, "trade_count")) if trade_count not in (None, "") else None,
            vwap=to_decimal(vwap, "vwap") if vwap not in (None, "") and to_decimal(vwap, "vwap") > 0 else None)
    except ValidationError as error:
        raise BadFrame(_reason_of(error), str(error.errors()[0].get("msg"))[:300]) from None


def bar_from_row(row: Mapping[str, str | None], *, source: str) -> MarketBar:
    """A file row (``symbol,start,open,high,low,close,volume[,trade_count,vwap]``) as a ``MarketBar``."""
    frame = {"S": row.get("symbol"), "t": row.get("start"), "o": row.get("open"), "h": row.get("high"),
             "l": row.get("low"), "c": row.get("close"), "v": row.get("volume"), "n": row.get("trade_count"),
             "vw": row.get("vwap")}
    return bar_from_frame({k: v for k, v in frame.items() if v not in (None, "")}, origin=BarOrigin.FILE,
                          source=source)


def quote_from_row(row: Mapping[str, str | None], *, source: str) -> MarketQuote:
    """A quotes-file row (``symbol,ts,bid,ask,bid_size,ask_size``) as a ``MarketQuote``."""
    frame = {"S": row.get("symbol"), "t": row.get("ts"), "bp": row.get("bid"), "ap": row.get("ask"),
             "bs": row.get("bid_size"), "as": row.get("ask_size")}
    return quote_from_frame({k: v for k, v in frame.items() if v not in (None, "")}, source=source)


def quote_from_frame(frame: Mapping[str, Any], *, source: str) -> MarketQuote:
    """An Alpaca quote (``q``: ``S bp bs ap as t``) as a ``MarketQuote``."""
    symbol = check_symbol(frame.get("S"))
    _require(frame, ("t", "bp", "bs", "ap", "as"))
    try:
        return MarketQuote(symbol=symbol, ts=to_utc(frame["t"]), bid=to_decimal(frame["bp"], "bid"),
                           ask=to_decimal(frame["ap"], "ask"), bid_size=to_decimal(frame["bs"], "bid_size"),
                           ask_size=to_decimal(frame["as"], "ask_size"), source=source)
    except ValidationError as error:
        first = error.errors()[0]
        raise BadFrame(Reason.INVALID_VALUE, f"{'.'.join(map(str, first.get('loc') or ()))}: "
                                             f"{first.get('msg')}"[:300]) from None
