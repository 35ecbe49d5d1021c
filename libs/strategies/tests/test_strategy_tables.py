"""Strategies as tables: a run of signals in, exactly these triggers out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.enums import Side
from torghut_contracts.models import TaSignal
from torghut_strategies.book import (
    MacdCrossParams,
    RsiReversionParams,
    StrategyBook,
    parse_strategy_book,
)
from torghut_strategies.engine import EngineConfig, evaluate, request_id_for
from torghut_strategies.state import SymbolState
from torghut_strategies.steps import macd_cross_step, rsi_reversion_step
from torghut_strategies.testing import T0, make_signal

D = Decimal


def run_steps(step: Any, params: Any, signals: list[TaSignal]) -> list[str | None]:
    memory: Any = {}
    fired: list[str | None] = []
    for signal in signals:
        memory, candidates = step(memory, signal, params)
        assert len(candidates) <= 1
        fired.append(candidates[0].trigger_type if candidates else None)
    return fired


UP, DOWN = "macd_cross_up", "macd_cross_down"


@pytest.mark.parametrize(("pairs", "min_separation", "expected"), [
    ([(-1, 0), (1, 0)], 0, [None, UP]),
    ([(1, 0), (-1, 0)], 0, [None, DOWN]),
    ([(1, 0), (2, 0)], 0, [None, None]),                              # the first observation only sets the side
    ([(-1, 0), (0, 0), (1, 0)], 0, [None, None, UP]),                  # touching the line is not a cross
    ([(-1, 0), (D("0.3"), 0), (1, 0)], D("0.5"), [None, None, UP]),    # inside the dead band the side holds
    ([(-1, 0), (D("0.3"), 0), (-1, 0)], D("0.5"), [None, None, None]),
    ([(-1, 0), (1, 0), (-1, 0), (1, 0)], 0, [None, UP, DOWN, UP]),
    ([(D("-0.2"), D("-0.1")), (D("-0.05"), D("-0.1"))], 0, [None, UP]),  # below zero crosses count too
], ids=["up", "down", "no-cross", "touch", "dead-band-up", "dead-band-back", "whipsaw", "negative"])
def test_macd_cross(pairs: list[tuple[Any, Any]], min_separation: Decimal, expected: list[str | None]) -> None:
    signals = [make_signal(i, macd=D(m), macd_signal=D(s)) for i, (m, s) in enumerate(pairs, 1)]
    assert run_steps(macd_cross_step, MacdCrossParams(min_separation=min_separation), signals) == expected


BUY, SELL = "rsi_oversold_reversion", "rsi_overbought_reversion"


@pytest.mark.parametrize(("rsis", "expected"), [
    ([50, 29], [None, BUY]),
    ([50, 30], [None, BUY]),                                  # the level itself enters the zone
    ([50, 29, 31, 28], [None, BUY, None, None]),              # 31 < exit 35: still oversold, no second buy
    ([50, 29, 36, 29], [None, BUY, None, BUY]),               # left past the exit level: re-armed
    ([50, 29, 35, 29], [None, BUY, None, BUY]),               # the exit level itself re-arms
    ([25, 20], [None, None]),                                 # starting inside a zone is not an entry
    ([50, 71, 66, 72], [None, SELL, None, None]),
    ([50, 71, 64, 71], [None, SELL, None, SELL]),
    ([29, 40, 75], [None, None, SELL]),
    ([50, 29, 71], [None, BUY, SELL]),                        # a jump across the band enters the other zone
], ids=["buy", "buy-at-level", "hysteresis-holds", "rearm", "rearm-at-exit", "start-in-zone", "sell",
        "sell-rearm", "start-oversold-then-sell", "jump"])
def test_rsi_reversion_hysteresis(rsis: list[int], expected: list[str | None]) -> None:
    signals = [make_signal(i, rsi14=D(r)) for i, r in enumerate(rsis, 1)]
    assert run_steps(rsi_reversion_step, RsiReversionParams(), signals) == expected


# -- through evaluate: filters, session, cooldown, universe --------------------------------------------
def book(**strategy: Any) -> StrategyBook:
    base: dict[str, Any] = {"id": "s1", "type": "macd_cross", "universe": "*", "cooldown_s": 300}
    base.update(strategy)
    return parse_strategy_book({"version": 1, "strategies": [base]}, origin="test")


def run(config: EngineConfig, signals: list[TaSignal]) -> list[tuple[int, str]]:
    """Feed signals in order (reference time = each event time); (seq, trigger/suppression) per outcome."""
    states: dict[str, SymbolState] = {}
    out: list[tuple[int, str]] = []
    for signal in signals:
        state = states.get(signal.symbol, SymbolState(signal.symbol))
        evaluation = evaluate(state, signal, config, reference_time=signal.event_ts)
        states[signal.symbol] = evaluation.state
        out += [(signal.seq, t.trigger_type) for t in evaluation.triggers]
        out += [(signal.seq, f"suppressed:{s.reason}") for s in evaluation.suppressed]
    return out


def crosses(*directions: str, start: datetime = T0, every: timedelta = timedelta(seconds=1),
            **fields: Any) -> list[TaSignal]:
    """A first signal below the line, then one signal per direction ('up' above, 'down' below)."""
    sides = ["down", *directions]
    return [make_signal(i, at=start + every * i, macd=D(1) if side == "up" else D(-1), macd_signal=D(0), **fields)
            for i, side in enumerate(sides)]


def test_rsi_band_filter_refuses_buying_overbought_and_selling_oversold() -> None:
    config = EngineConfig(book(filters=[{"type": "rsi_band", "buy_max": 70, "sell_min": 30}], cooldown_s=0))
    assert run(config, crosses("up", rsi14=D(75))) == [(1, "suppressed:filter_rsi_overbought")]
    assert run(config, crosses("up", "down", rsi14=D(25))) == [(1, UP), (2, "suppressed:filter_rsi_oversold")]
    assert run(config, crosses("up", "down", rsi14=D(50))) == [(1, UP), (2, DOWN)]


def test_quote_quality_filter_is_stricter_than_the_signal_gate() -> None:
    config = EngineConfig(book(filters=[{"type": "quote_quality", "max_spread_bps": 5}]))
    wide: dict[str, Any] = {"bid": D("99.95"), "ask": D("100.05")}  # 10 bps: passes the gate, not this filter
    assert run(config, crosses("up", **wide)) == [(1, "suppressed:filter_spread_bps_exceeded")]
    assert run(config, crosses("up")) == [(1, UP)]


def test_cooldown_is_per_direction_and_measured_in_event_time() -> None:
    config = EngineConfig(book(cooldown_s=300))
    every_minute = crosses("up", "down", "up", "down", every=timedelta(minutes=1))
    assert run(config, every_minute) == [(1, UP), (2, DOWN), (3, "suppressed:cooldown"), (4, "suppressed:cooldown")]
    every_six_minutes = crosses("up", "down", "up", every=timedelta(minutes=3))
    assert run(config, every_six_minutes) == [(1, UP), (2, DOWN), (3, UP)]  # 6 minutes after the first buy


def test_no_triggers_outside_the_session_unless_the_strategy_allows_it() -> None:
    pre_open = datetime(2026, 2, 12, 14, 0, tzinfo=UTC)  # 09:00 New York
    assert run(EngineConfig(book()), crosses("up", start=pre_open)) == [(1, "suppressed:outside_session")]
    assert run(EngineConfig(book(allow_outside_session=True)), crosses("up", start=pre_open)) == [(1, UP)]


def test_universe_and_window_select_the_strategies_that_see_a_symbol() -> None:
    only_nvda = EngineConfig(book(universe=["NVDA"]))
    assert run(only_nvda, crosses("up")) == []
    assert run(only_nvda, [s.model_copy(update={"symbol": "NVDA"}) for s in crosses("up")]) == [(1, UP)]
    one_minute_bars = EngineConfig(book(window="PT1M"))
    assert run(one_minute_bars, crosses("up", window="PT1S")) == []
    assert run(one_minute_bars, crosses("up", window="PT1M")) == [(1, UP)]


def test_a_disabled_strategy_never_fires() -> None:
    assert run(EngineConfig(book(enabled=False)), crosses("up")) == []


def test_a_gap_in_an_indicator_resets_the_strategy_memory() -> None:
    config = EngineConfig(book())
    signals = [make_signal(1, macd=D(-1)), make_signal(2, macd=None), make_signal(3, macd=D(1))]
    assert run(config, signals) == [], "a cross across a gap is not observed whole, so it does not fire"


def test_triggers_carry_a_deterministic_request_id_and_the_feature_snapshot() -> None:
    config = EngineConfig(book())
    signals = crosses("up", rsi14=D("55.5"))
    state = SymbolState("AAPL")
    triggers = []
    for signal in signals:
        evaluation = evaluate(state, signal, config, reference_time=signal.event_ts)
        state = evaluation.state
        triggers += evaluation.triggers
    (trigger,) = triggers
    assert trigger.request_id == request_id_for("s1", "AAPL", 1, signals[1].event_ts, Side.BUY)
    assert len(trigger.request_id) == 64 and int(trigger.request_id, 16) >= 0
    assert trigger.direction is Side.BUY and trigger.signal_seq == 1 and trigger.price == D(100)
    assert trigger.features["macd"] == D(1) and trigger.features["rsi14"] == D("55.5")
    assert trigger.features["spread_bps"] == D("2.0000")
    assert trigger.triggered_at == signals[1].event_ts
    # Same inputs, same id; any identifying field changes it.
    assert request_id_for("s1", "AAPL", 1, signals[1].event_ts, Side.BUY) == trigger.request_id
    assert request_id_for("s1", "AAPL", 1, signals[1].event_ts, Side.SELL) != trigger.request_id
    assert request_id_for("s2", "AAPL", 1, signals[1].event_ts, Side.BUY) != trigger.request_id
