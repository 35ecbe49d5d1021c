"""ta's talipp indicators against an independent implementation (stockstats) on real bars.

GOOG's daily bars 2004-2013 (``backtesting.test.GOOG``, 2148 bars) go through the domain as
``MarketBar``s; stockstats computes the same indicators over the same floats with pandas.

Where the two libraries' definitions differ, like is compared with like:

* **Bollinger deviation**: stockstats uses the *sample* standard deviation (pandas' rolling
  ``std``, ddof=1); the contract (and talipp) use the *population* one (ddof=0). The reference is
  converted exactly: ``population = sample * sqrt((n - 1) / n)`` with n = 20.
* **Seeding**: talipp seeds EMA/MACD with the SMA of the first ``period`` inputs and RSI/ATR with
  averages of their first changes; stockstats runs pandas' adjusted ``ewm`` from the very first bar
  (RSI, ATR: ``alpha = 1/14``, Wilder's smoothing; EMA: ``span = n``). Both recursions are the same
  afterwards, so the seed's difference decays as ``(1 - alpha)^t``: below 1e-13 of itself after
  ``BURN_IN`` = 600 bars for the slowest (alpha = 1/14). Values are compared from there on.
* **Tolerance**: 1e-9 relative. MACD and its histogram are differences of price-sized EMAs, so near
  a zero crossing their own magnitude says nothing about the error; they are held to 1e-9 of the
  price instead (``abs_tol``), which is the same precision the EMAs themselves are held to.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from backtesting.test import GOOG
from stockstats import StockDataFrame
from torghut_contracts.models import MarketBar
from torghut_ta.domain.indicators import BOLL_PERIOD, HISTORY, PURGE_AT, IndicatorValues
from torghut_ta.domain.series import Rules, SeriesState, apply

BURN_IN = 600
REL = 1e-9


def goog_bars() -> list[MarketBar]:
    def price(value: float) -> Decimal:
        return Decimal(repr(float(value)))  # the shortest decimal that round-trips to the same float

    bars = []
    for day, row in GOOG.iterrows():
        start = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)
        bars.append(MarketBar(symbol="GOOG", start=start, window="P1D", open=price(row.Open),
                              high=price(row.High), low=price(row.Low),
                              close=price(row.Close), volume=Decimal(int(row.Volume))))
    return bars


@pytest.fixture(scope="module")
def ours() -> list[IndicatorValues]:
    """The domain's indicator values after each GOOG bar (floats, before the wire's rounding)."""
    state, rules, out = SeriesState("GOOG", "P1D"), Rules(), []
    for bar in goog_bars():
        apply(state, bar, None, rules)
        out.append(state.indicators.values())
        assert state.indicators.held() <= PURGE_AT, "talipp's history stays bounded"
    return out


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    frame = StockDataFrame.retype(GOOG.rename(columns=str.lower).copy())
    n = BOLL_PERIOD
    population = math.sqrt((n - 1) / n)
    mid = frame["boll"]
    width = (frame["boll_ub"] - mid) * population  # sample -> population standard deviation, exactly
    return pd.DataFrame({
        "ema12": frame["close_12_ema"], "ema26": frame["close_26_ema"], "macd": frame["macd"],
        "macd_signal": frame["macds"], "macd_hist": frame["macdh"], "rsi14": frame["rsi_14"],
        "boll_mid": mid, "boll_upper": mid + width, "boll_lower": mid - width, "atr14": frame["atr_14"],
        "close": frame["close"],
    }).reset_index(drop=True)


PRICE_SCALED = {"macd", "macd_hist", "macd_signal"}


def mismatches(ours: list[IndicatorValues], reference: pd.DataFrame, name: str) -> list[tuple[int, float, float]]:
    bad = []
    for i in range(BURN_IN, len(ours)):
        got, want = getattr(ours[i], name), float(reference[name][i])
        abs_tol = REL * float(reference["close"][i]) if name in PRICE_SCALED else 0.0
        if got is None or not math.isclose(got, want, rel_tol=REL, abs_tol=abs_tol):
            bad.append((i, got, want))
    return bad


@pytest.mark.parametrize("name", ["ema12", "ema26", "macd", "macd_signal", "macd_hist", "rsi14",
                                  "boll_mid", "boll_upper", "boll_lower", "atr14"])
def test_each_indicator_matches_stockstats_after_the_burn_in(
        ours: list[IndicatorValues], reference: pd.DataFrame, name: str) -> None:
    assert len(ours) == len(reference) == 2148
    bad = mismatches(ours, reference, name)
    assert not bad, f"{name}: {len(bad)} values differ, first {bad[:3]}"


def test_the_comparison_can_tell_a_wrong_definition(reference: pd.DataFrame, ours: list[IndicatorValues]) -> None:
    """The tolerance is tight enough to catch the usual mistakes: sample vs population deviation,
    and an off-by-one period."""
    frame = StockDataFrame.retype(GOOG.rename(columns=str.lower).copy())
    sample_upper = reference.assign(boll_upper=frame["boll_ub"].reset_index(drop=True))
    assert mismatches(ours, sample_upper, "boll_upper"), "sample std dev would have passed"
    off_by_one = reference.assign(ema12=frame["close_13_ema"].reset_index(drop=True))
    assert mismatches(ours, off_by_one, "ema12"), "EMA13 would have passed as EMA12"


def test_warmup_lasts_until_the_macd_signal_line_exists(ours: list[IndicatorValues]) -> None:
    assert [v.complete for v in ours[:40]] == [False] * 33 + [True] * 7
    assert ours[32].macd_signal is None and ours[33].macd_signal is not None


def test_purging_changes_no_value() -> None:
    """A series that was purged computes exactly what one that never was does (bit for bit)."""
    bars = goog_bars()[:3 * PURGE_AT]
    purged, rules = SeriesState("GOOG", "P1D"), Rules()
    unpurged = SeriesState("GOOG", "P1D")
    import torghut_ta.domain.indicators as module

    for bar in bars:
        apply(purged, bar, None, rules)
    original = module.PURGE_AT
    module.PURGE_AT = 10**9
    try:
        for bar in bars:
            apply(unpurged, bar, None, rules)
    finally:
        module.PURGE_AT = original
    assert purged.indicators.held() <= PURGE_AT < unpurged.indicators.held()
    assert purged.indicators.held() >= HISTORY
    assert purged.indicators.values() == unpurged.indicators.values()


def test_bars_are_a_day_apart() -> None:
    """Guard on the fixture: one bar per trading day, strictly increasing."""
    starts = [bar.start for bar in goog_bars()]
    assert all(b - a >= timedelta(days=1) for a, b in itertools.pairwise(starts))
