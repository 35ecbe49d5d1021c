"""Strategies as pure steps: (memory, signal, params) -> (new memory, candidate triggers).

A step only reads indicators and its own memory; gates, the session, filters and the cooldown are
applied by the engine around it, so each strategy is a small table-testable function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from torghut_contracts.enums import Side
from torghut_contracts.models import TaSignal

from .book import (
    Filter,
    MacdCrossParams,
    MacdCrossStrategy,
    QuoteQualityFilter,
    RsiBandFilter,
    RsiReversionParams,
    RsiReversionStrategy,
)
from .gates import quote_quality

Memory = Mapping[str, str]


@dataclass(frozen=True)
class Candidate:
    direction: Side
    trigger_type: str


MACD_CROSS_UP = Candidate(Side.BUY, "macd_cross_up")
MACD_CROSS_DOWN = Candidate(Side.SELL, "macd_cross_down")
RSI_OVERSOLD = Candidate(Side.BUY, "rsi_oversold_reversion")
RSI_OVERBOUGHT = Candidate(Side.SELL, "rsi_overbought_reversion")


def macd_side(diff: Decimal, min_separation: Decimal) -> str | None:
    """Which side of its signal line MACD is on; None inside the dead band, where the last side holds."""
    if diff > min_separation:
        return "above"
    if diff < -min_separation:
        return "below"
    return None


def macd_cross_step(memory: Memory, signal: TaSignal, params: MacdCrossParams) -> tuple[Memory, list[Candidate]]:
    """Fire on a change of side of MACD against its signal line; the first observation only sets the side."""
    assert signal.macd is not None and signal.macd_signal is not None
    previous = memory.get("relation")
    relation = macd_side(signal.macd - signal.macd_signal, params.min_separation) or previous
    candidates: list[Candidate] = []
    if previous == "below" and relation == "above":
        candidates.append(MACD_CROSS_UP)
    elif previous == "above" and relation == "below":
        candidates.append(MACD_CROSS_DOWN)
    return ({"relation": relation} if relation else {}), candidates


class RsiBand(IntEnum):
    """Where an RSI value lies against the four levels, before the previous zone is known."""

    OVERSOLD = 1
    """At or below ``oversold``: the oversold zone whatever came before."""
    OVERSOLD_EXIT = 2
    """Between ``oversold`` and ``oversold_exit``: oversold only if it already was (hysteresis)."""
    NEUTRAL = 3
    OVERBOUGHT_EXIT = 4
    OVERBOUGHT = 5


def rsi_band(rsi: Decimal, params: RsiReversionParams) -> RsiBand:
    if rsi <= params.oversold:
        return RsiBand.OVERSOLD
    if rsi >= params.overbought:
        return RsiBand.OVERBOUGHT
    if rsi < params.oversold_exit:
        return RsiBand.OVERSOLD_EXIT
    if rsi > params.overbought_exit:
        return RsiBand.OVERBOUGHT_EXIT
    return RsiBand.NEUTRAL


def _rsi_zone(rsi: Decimal, previous: str | None, params: RsiReversionParams) -> str:
    band = rsi_band(rsi, params)
    if band is RsiBand.OVERSOLD or (band is RsiBand.OVERSOLD_EXIT and previous == "oversold"):
        return "oversold"
    if band is RsiBand.OVERBOUGHT or (band is RsiBand.OVERBOUGHT_EXIT and previous == "overbought"):
        return "overbought"
    return "neutral"


def rsi_reversion_step(memory: Memory, signal: TaSignal,
                       params: RsiReversionParams) -> tuple[Memory, list[Candidate]]:
    """Fire once on entering an extreme zone; re-arm only after RSI leaves it past the exit level.

    The first observation only places RSI in a zone: starting inside an extreme is not an entry.
    """
    assert signal.rsi14 is not None
    previous = memory.get("zone")
    zone = _rsi_zone(signal.rsi14, previous, params)
    candidates: list[Candidate] = []
    if previous is not None and zone != previous:
        if zone == "oversold":
            candidates.append(RSI_OVERSOLD)
        elif zone == "overbought":
            candidates.append(RSI_OVERBOUGHT)
    return {"zone": zone}, candidates


def needed_fields(strategy: MacdCrossStrategy | RsiReversionStrategy) -> tuple[str, ...]:
    """Indicators the step reads; a signal missing one resets the strategy's memory (fail closed)."""
    if isinstance(strategy, MacdCrossStrategy):
        return ("macd", "macd_signal")
    return ("rsi14",)


def step(strategy: MacdCrossStrategy | RsiReversionStrategy, memory: Memory,
         signal: TaSignal) -> tuple[Memory, list[Candidate]]:
    if isinstance(strategy, MacdCrossStrategy):
        return macd_cross_step(memory, signal, strategy.params)
    return rsi_reversion_step(memory, signal, strategy.params)


def filter_reason(item: Filter, signal: TaSignal, direction: Side) -> str | None:
    """Why ``item`` refuses this candidate, or None when it lets it through."""
    if isinstance(item, QuoteQualityFilter):
        reason = quote_quality(signal, max_spread_bps=item.max_spread_bps, require_quote=item.require_quote)
        return f"filter_{reason.value}" if reason is not None else None
    if isinstance(item, RsiBandFilter):
        if signal.rsi14 is None:
            return "filter_rsi_missing"
        if direction is Side.BUY and signal.rsi14 > item.buy_max:
            return "filter_rsi_overbought"
        if direction is Side.SELL and signal.rsi14 < item.sell_min:
            return "filter_rsi_oversold"
        return None
    raise TypeError(f"unknown filter {item!r}")  # pragma: no cover - the book validates types
