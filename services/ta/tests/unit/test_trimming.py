"""Trimming talipp's lists to what the formulas read again changes no signal, and keeps the state small."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import torghut_ta.domain.indicators as indicators
from backtesting.test import GOOG
from torghut_contracts.models import MarketBar, TaSignal
from torghut_ta.domain.series import Rules, SeriesState, apply


def goog_bars() -> list[MarketBar]:
    """GOOG's daily bars 2004-2013 (2148), as in the stockstats comparison."""
    def price(value: float) -> Decimal:
        return Decimal(repr(float(value)))

    return [MarketBar(symbol="GOOG", start=datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC), window="P1D",
                      open=price(row.Open), high=price(row.High), low=price(row.Low), close=price(row.Close),
                      volume=Decimal(int(row.Volume))) for day, row in GOOG.iterrows()]


def signals(*, trimmed: bool, monkeypatch: pytest.MonkeyPatch, reload_every: int = 0) -> list[TaSignal]:
    """Every signal of GOOG's bars; ``reload_every`` > 0 pickles and unpickles the state that often, as
    the store does between batches."""
    with monkeypatch.context() as patch:
        if not trimmed:
            patch.setattr(indicators, "PURGE_AT", 10**9)
        state, rules, out = SeriesState("GOOG", "P1D"), Rules(), []
        for n, bar in enumerate(goog_bars(), start=1):
            out.append(apply(state, bar, None, rules))
            if reload_every and n % reload_every == 0:
                state = pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    return out


def test_every_signal_of_a_trimmed_series_is_the_untrimmed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    untrimmed = signals(trimmed=False, monkeypatch=monkeypatch)
    assert signals(trimmed=True, monkeypatch=monkeypatch, reload_every=7) == untrimmed
    assert len(untrimmed) > 2000 and untrimmed[-1].warmup is False


def test_a_warmed_up_state_pickles_small() -> None:
    state, rules = SeriesState("GOOG", "P1D"), Rules()
    for bar in goog_bars()[:500]:
        apply(state, bar, None, rules)
    ind = state.indicators
    assert len(ind.atr.input_values) == indicators.ATR_HISTORY
    assert max(len(i.output_values) for i in (ind.ema12, ind.macd, ind.bb, ind.rsi, ind.atr)) == 1
    assert len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)) < 8_000, "talipp's full history kept?"
