"""A ``MarketBar`` -> a ``ta_microbars`` row, a ``TaSignal`` -> a ``ta_signals`` row (the column mapping).

A row is a dict with every column of its table (:mod:`torghut_strategies.clickhouse.schema`), so
the adapter can leave out the columns an older table lacks. The mapping is a pure function of the
message and its ``ingest_ts``, so a redelivered batch inserts identical rows, which
``ReplacingMergeTree`` collapses.

* ``ingest_ts`` (the table's version: the highest wins on a merge) is when the message was produced
  (its ``x-produced-at`` header, else its Kafka timestamp), to the millisecond: the same on every
  redelivery, and later for a correction than for the bar it corrects, since the source publishes
  the correction after it.
* A bar's ``event_ts`` is its close (``start + window``): the instant ta stamps the bar's signal
  with, so signal-trigger's join ``USING (symbol, event_ts)`` finds the bar's close as the price.
* A bar's ``seq`` is its window's length in milliseconds (60000 for ``PT1M``): bars carry no sequence
  number, a correction must land on the same key as the bar it corrects, and a one-second and a
  one-minute bar closing at the same instant must not collapse into one row.
* A bar whose window is not a positive day/time duration has no close: it is skipped (counted).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from torghut_contracts.models import MarketBar, TaSignal

Row = dict[str, Any]
ROW_VERSION = 1
"""Upstream's ``version`` column: the row format (its Avro schemas' ``version=1``)."""

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")
_MILLISECOND = timedelta(milliseconds=1)


class Skip(enum.StrEnum):
    """Why a message gives no row (the ``reason`` label of ``torghut_clickhouse_sink_skipped_total``)."""

    BAD_WINDOW = "bad_window"


@lru_cache(maxsize=64)
def window_length(text: str) -> timedelta | None:
    """The window's length (``PT1M``, ``PT1S``, ``P1D``), or None for text that is not a positive
    day/time duration (years, months and weeks have no fixed length). ta reads windows the same way."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    length = timedelta(**{name: float(value) for name, value in match.groupdict().items() if value is not None})
    return length if length > timedelta(0) else None


def ingest_ts(produced_at: datetime | None, kafka_timestamp: datetime) -> datetime:
    """The row's version: when the message was produced, to the millisecond, in UTC."""
    ts = produced_at or kafka_timestamp
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _count(value: Decimal | None) -> int | None:
    """A size as upstream's UInt64 column holds it: whole units (a fractional size loses its fraction)."""
    return None if value is None else int(value)


def microbar_row(bar: MarketBar, ingest: datetime) -> Row | Skip:
    """The bar as a ``ta_microbars`` row, keyed at its close."""
    length = window_length(bar.window)
    if length is None:
        return Skip.BAD_WINDOW
    close = bar.start + length
    return {
        "symbol": bar.symbol, "event_ts": close, "seq": length // _MILLISECOND, "ingest_ts": ingest, "is_final": 1,
        "source": bar.source, "window_size": bar.window, "window_step": bar.window, "window_start": bar.start,
        "window_end": close, "version": ROW_VERSION,
        "o": float(bar.open), "h": float(bar.high), "l": float(bar.low), "c": float(bar.close),
        "v": float(bar.volume), "vwap": _float(bar.vwap), "count": bar.trade_count or 0, "origin": bar.origin.value,
    }


def signal_row(signal: TaSignal, ingest: datetime) -> Row:
    """The signal as a ``ta_signals`` row in upstream's names (``vwap`` -> ``vwap_session``, the quote ->
    ``imbalance_*``, with ``imbalance_spread`` = ask - bid in price units). The price is not stored:
    readers take it from the microbar closing at ``event_ts``, as they read upstream's table."""
    length = window_length(signal.window) if signal.window else None
    spread = signal.ask - signal.bid if signal.bid is not None and signal.ask is not None else None
    return {
        "symbol": signal.symbol, "event_ts": signal.event_ts, "seq": signal.seq, "ingest_ts": ingest, "is_final": 1,
        "source": signal.source, "window_size": signal.window or "", "window_step": signal.window,
        "window_start": signal.event_ts - length if length else None,
        "window_end": signal.event_ts if length else None, "version": ROW_VERSION,
        "macd": _float(signal.macd), "macd_signal": _float(signal.macd_signal), "macd_hist": _float(signal.macd_hist),
        "ema12": _float(signal.ema12), "ema26": _float(signal.ema26), "rsi14": _float(signal.rsi14),
        "boll_mid": _float(signal.boll_mid), "boll_upper": _float(signal.boll_upper),
        "boll_lower": _float(signal.boll_lower), "vwap_session": _float(signal.vwap),
        "vwap_w5m": _float(signal.vwap_w5m), "imbalance_spread": _float(spread),
        "imbalance_bid_px": _float(signal.bid), "imbalance_ask_px": _float(signal.ask),
        "imbalance_bid_sz": _count(signal.bid_size), "imbalance_ask_sz": _count(signal.ask_size),
        "vol_realized_w60s": None, "microstructure_signal_v1": None,
        "spread_bps": _float(signal.spread_bps), "volume": _float(signal.volume), "atr14": _float(signal.atr14),
        "warmup": None if signal.warmup is None else int(signal.warmup),
    }
