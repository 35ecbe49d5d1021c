"""The vectorised scan and the per-signal engine give the same triggers, one for one."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.engine import EngineConfig, Suppressed, evaluate, stream_of
from torghut_strategies.frame import columns_of, scan
from torghut_strategies.gates import GateConfig
from torghut_strategies.state import SymbolState
from torghut_strategies.testing import T0, make_signal

D = Decimal


def sequential(signals: list[TaSignal], config: EngineConfig) -> tuple[list[tuple[int, StrategyTrigger]],
                                                                        list[tuple[int, Suppressed]]]:
    """signal-trigger in replay mode: the reference time is the largest event time seen so far."""
    states: dict[tuple[str, str], SymbolState] = {}
    triggers: list[tuple[int, StrategyTrigger]] = []
    suppressed: list[tuple[int, Suppressed]] = []
    watermark: datetime | None = None
    for row, signal in enumerate(signals):
        watermark = signal.event_ts if watermark is None else max(watermark, signal.event_ts)
        key = (signal.symbol, stream_of(signal))
        evaluation = evaluate(states.get(key, SymbolState(*key)), signal, config, reference_time=watermark)
        states[key] = evaluation.state
        triggers += [(row, t) for t in evaluation.triggers]
        suppressed += [(row, s) for s in evaluation.suppressed]
    return triggers, suppressed


def assert_same(signals: list[TaSignal], config: EngineConfig) -> None:
    expected_triggers, expected_suppressed = sequential(signals, config)
    result = scan(columns_of(signals), config)
    assert result.triggers == expected_triggers
    assert result.suppressed == expected_suppressed


BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd", "type": "macd_cross", "universe": "*", "cooldown_s": 0},
    {"id": "rsi", "type": "rsi_reversion", "universe": "*", "cooldown_s": 0},
]}, origin="test")


def test_an_empty_set_fires_nothing() -> None:
    result = scan(columns_of([]), EngineConfig(BOOK))
    assert result.triggers == [] and result.suppressed == [] and len(result.accepted) == 0


def test_crosses_zones_and_their_order_match_the_engine() -> None:
    rows = [(-1, 50), (1, 50), (1, 29), (-1, 33), (-1, 36), (1, 71), (1, 66), (-1, 64)]
    signals = [make_signal(i, macd=D(m), rsi14=D(r)) for i, (m, r) in enumerate(rows, 1)]
    assert_same(signals, EngineConfig(BOOK))
    kinds = [t.trigger_type for _, t in scan(columns_of(signals), EngineConfig(BOOK)).triggers]
    assert kinds == ["macd_cross_up", "rsi_oversold_reversion", "macd_cross_down", "macd_cross_up",
                     "rsi_overbought_reversion", "macd_cross_down"]


def test_duplicates_late_and_backwards_signals_never_reach_the_memory() -> None:
    signals = [make_signal(1, macd=D(-1)), make_signal(3, macd=D(1)), make_signal(2, macd=D(-1)),
               make_signal(3, macd=D(-1)), make_signal(4, macd=D(-1), at=T0),  # time goes back: refused
               make_signal(5, macd=D(-1))]
    result = scan(columns_of(signals), EngineConfig(BOOK))
    assert result.accepted.tolist() == [True, True, False, False, False, True]
    assert [(row, t.trigger_type) for row, t in result.triggers] == [(1, "macd_cross_up"), (5, "macd_cross_down")]
    assert_same(signals, EngineConfig(BOOK))


def test_a_value_on_a_level_is_decided_by_its_exact_decimal() -> None:
    book = parse_strategy_book({"version": 1, "strategies": [
        {"id": "band", "type": "macd_cross", "universe": "*", "cooldown_s": 0, "params": {"min_separation": "0.3"}},
    ]}, origin="test")
    # 0.2 - (-0.1) is 0.30000000000000004 in binary floats, above the band; in decimals it is its edge.
    signals = [make_signal(1, macd=D(-1), macd_signal=D(0)), make_signal(2, macd=D("0.2"), macd_signal=D("-0.1")),
               make_signal(3, macd=D("0.20000000001"), macd_signal=D("-0.1"))]
    assert_same(signals, EngineConfig(book))
    assert [row for row, _ in scan(columns_of(signals), EngineConfig(book)).triggers] == [2]


def test_a_new_stream_starts_without_a_side() -> None:
    book = parse_strategy_book({"version": 1, "strategies": [
        {"id": "band", "type": "macd_cross", "universe": "*", "cooldown_s": 0, "params": {"min_separation": "0.5"}},
    ]}, origin="test")
    # AAPL ends above the line; MSFT starts inside the dead band, then goes below: no side yet, no cross.
    signals = [make_signal(1, macd=D(-1)), make_signal(2, macd=D(1)),
               make_signal(1, symbol="MSFT", macd=D("0.1")), make_signal(2, symbol="MSFT", macd=D(-1))]
    assert [row for row, _ in scan(columns_of(signals), EngineConfig(book)).triggers] == [1]
    assert_same(signals, EngineConfig(book))


# -- random streams ------------------------------------------------------------------------------------
LEVELS = [D(x) for x in ("0", "12.5", "25", "30", "30.00000000000000001", "31", "35", "40", "50", "64.99", "65",
                         "66", "69.99999999999999999", "70", "75", "100")]
MACD = [D(x) for x in ("-2", "-0.5", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3", "0.5", "1", "2")]


@st.composite
def streams(draw: Any) -> list[TaSignal]:
    count = draw(st.integers(min_value=0, max_value=60))
    signals, at, seqs = [], T0, {}
    symbol, window = "AAPL", "PT1M"
    for _ in range(count):
        if draw(st.integers(0, 5)) == 0:  # runs of one stream, so its memory has time to build up
            symbol = draw(st.sampled_from(["AAPL", "MSFT"]))
            window = draw(st.sampled_from(["PT1M", "PT1M", "PT1S"]))
        last = seqs.get((symbol, window), 0)
        seq = max(0, last + draw(st.sampled_from([1] * 8 + [2, 0, -1, -3, 200])))
        seqs[(symbol, window)] = max(last, seq)
        at += timedelta(seconds=draw(st.sampled_from([1] * 6 + [30, 0, 0, -5, 400])))
        bid = draw(st.sampled_from([D("99.99")] * 6 + [D("100.02"), D("99"), None]))
        signals.append(make_signal(
            seq, symbol=symbol, at=at + timedelta(hours=draw(st.sampled_from([0] * 12 + [8]))), window=window,
            source=draw(st.sampled_from(["ta", "ta", "ta", "other"])),
            macd=draw(st.sampled_from([*MACD, None])),
            macd_signal=draw(st.sampled_from([D(0), D("0.1"), D("-0.1")] * 3 + [None])),
            rsi14=draw(st.sampled_from([*LEVELS, None])), price=draw(st.sampled_from([D(100), D(100), None])),
            bid=bid, ask=D("100.01")))
    return signals


@st.composite
def configs(draw: Any) -> EngineConfig:
    oversold = draw(st.sampled_from(["25", "30"]))
    filters = draw(st.sampled_from([[], [{"type": "rsi_band", "buy_max": 70, "sell_min": 30}],
                                    [{"type": "quote_quality", "max_spread_bps": 5}]]))
    book = parse_strategy_book({"version": 1, "strategies": [
        {"id": "m", "type": "macd_cross", "universe": draw(st.sampled_from(["*", ["AAPL"]])),
         "window": draw(st.sampled_from([None, "PT1M"])), "cooldown_s": draw(st.sampled_from([0, 20, 300])),
         "allow_outside_session": draw(st.booleans()), "filters": filters,
         "params": {"min_separation": draw(st.sampled_from(["0", "0.1", "0.2", "0.3"]))}},
        {"id": "r", "type": "rsi_reversion", "universe": "*", "enabled": draw(st.booleans()),
         "cooldown_s": draw(st.sampled_from([0, 60])),
         "params": {"oversold": oversold, "oversold_exit": "35", "overbought_exit": "65", "overbought": "70"}},
    ]}, origin="test")
    gates = GateConfig(max_future_skew=None, require_quote=draw(st.booleans()),
                       allowed_sources=draw(st.sampled_from([frozenset({"ta"}), frozenset()])),
                       max_staleness=timedelta(seconds=draw(st.sampled_from([60, 300]))))
    return EngineConfig(book, gates)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals=streams(), config=configs())
def test_random_streams_give_the_engines_triggers(signals: list[TaSignal], config: EngineConfig) -> None:
    assert_same(signals, config)
