"""Signal gates: which signals may not move a strategy to a trigger, and why.

Every gate fails closed: a signal that is missing a field, stale, a repeat, out of order or quoted
badly produces no trigger and a reason code, never an exception. Reason codes follow upstream's
(torghut-upstream.md §4.1) where one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from torghut_contracts.models import TaSignal

REQUIRED_FIELDS: tuple[str, ...] = ("price", "macd", "macd_signal", "rsi14")
_BPS = Decimal(10_000)


class GateReason(StrEnum):
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    DUPLICATE = "duplicate_signal"
    OUT_OF_ORDER = "out_of_order_seq"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    STALE = "stale_signal"
    FROM_THE_FUTURE = "event_ts_in_future"
    MISSING_QUOTE = "missing_quote"
    CROSSED_QUOTE = "crossed_quote"
    SPREAD_TOO_WIDE = "spread_bps_exceeded"
    WARMING_UP = "indicators_warming_up"
    """The source says its indicators have seen too few bars to be settled (``TaSignal.warmup``)."""


@dataclass(frozen=True)
class GateConfig:
    required_fields: tuple[str, ...] = REQUIRED_FIELDS
    max_staleness: timedelta = timedelta(minutes=5)
    """Upstream TRADING_FEATURE_MAX_STALENESS_MS (300000)."""
    max_future_skew: timedelta | None = timedelta(seconds=5)
    """A signal stamped further ahead of the reference clock is refused; None disables (replay)."""
    require_quote: bool = True
    max_spread_bps: Decimal = Decimal(50)
    """Upstream TRADING_SIGNAL_MAX_EXECUTABLE_SPREAD_BPS (50)."""
    allowed_sources: frozenset[str] = field(default_factory=lambda: frozenset({"ta"}))
    """Empty allows every source."""


def missing_fields(signal: TaSignal, required: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in required if getattr(signal, name) is None)


def spread_bps(signal: TaSignal) -> Decimal | None:
    """The quoted spread in basis points of the mid, from bid/ask (the wider of that and the reported one).

    None when there is no two-sided quote. Taking the wider of the computed and reported spreads
    means a disagreement between them can only make the gate stricter.
    """
    mid = signal.quote_mid
    if mid is None or signal.bid is None or signal.ask is None:
        return None
    computed = (signal.ask - signal.bid) / mid * _BPS
    if signal.spread_bps is not None:
        return max(computed, signal.spread_bps)
    return computed


def quote_quality(signal: TaSignal, *, max_spread_bps: Decimal, require_quote: bool = True) -> GateReason | None:
    """The first quote problem, in upstream's order: missing, crossed, too wide."""
    if signal.bid is None or signal.ask is None:
        return GateReason.MISSING_QUOTE if require_quote else None
    if signal.bid > signal.ask:
        return GateReason.CROSSED_QUOTE
    spread = spread_bps(signal)
    if spread is not None and spread > max_spread_bps:
        return GateReason.SPREAD_TOO_WIDE
    return None


def content_gates(signal: TaSignal, config: GateConfig, reference_time: datetime) -> tuple[GateReason, ...]:
    """Every content problem of a signal that is new in its sequence (all reasons, not the first)."""
    reasons: list[GateReason] = []
    if missing_fields(signal, config.required_fields):
        reasons.append(GateReason.MISSING_REQUIRED_FIELD)
    if signal.warmup:
        reasons.append(GateReason.WARMING_UP)
    age = reference_time - signal.event_ts
    if age > config.max_staleness:
        reasons.append(GateReason.STALE)
    if config.max_future_skew is not None and -age > config.max_future_skew:
        reasons.append(GateReason.FROM_THE_FUTURE)
    if config.require_quote or signal.bid is not None or signal.ask is not None:
        quote = quote_quality(signal, max_spread_bps=config.max_spread_bps, require_quote=config.require_quote)
        if quote is not None:
            reasons.append(quote)
    return tuple(reasons)
