"""Every signal gate: the reason it reports, that nothing fires, and what it does to the state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.engine import EngineConfig, Evaluation, evaluate
from torghut_strategies.gates import GateConfig, GateReason
from torghut_strategies.state import SEQ_WINDOW, SeqVerdict, SeqWindow, SymbolState
from torghut_strategies.testing import T0, make_signal

D = Decimal
BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd", "type": "macd_cross", "universe": "*", "cooldown_s": 0}]}, origin="test")
CONFIG = EngineConfig(BOOK)


def after(*seqs: int) -> SymbolState:
    """The state after clean signals with these seqs (MACD below the line, so the next 'above' crosses)."""
    state = SymbolState("AAPL")
    for seq in seqs:
        state = evaluate(state, make_signal(seq, macd=D(-1)), CONFIG, reference_time=T0 + timedelta(seconds=seq)).state
    return state


def judge(state: SymbolState, signal_seq: int, config: EngineConfig = CONFIG, *, reference_delay: float = 0,
          **fields: object) -> Evaluation:
    """Evaluate a would-be-crossing signal (MACD above the line)."""
    signal = make_signal(signal_seq, **{"macd": D(1), **fields})
    return evaluate(state, signal, config, reference_time=signal.event_ts + timedelta(seconds=reference_delay))


def test_a_clean_signal_passes_every_gate_and_fires() -> None:
    evaluation = judge(after(1), 2)
    assert evaluation.gate_reasons == () and [t.trigger_type for t in evaluation.triggers] == ["macd_cross_up"]


def test_source_not_allowed() -> None:
    evaluation = judge(after(1), 2, source="replay-tool")
    assert evaluation.gate_reasons == (GateReason.SOURCE_NOT_ALLOWED,) and not evaluation.triggers
    assert evaluation.state == after(1), "another source's seq is not this stream's"
    open_config = EngineConfig(BOOK, GateConfig(allowed_sources=frozenset()))
    assert judge(after(1), 2, open_config, source="replay-tool").triggers


def test_duplicate_changes_nothing() -> None:
    state = after(1, 2)
    evaluation = judge(state, 2)
    assert evaluation.gate_reasons == (GateReason.DUPLICATE,) and not evaluation.triggers
    assert evaluation.state == state


def test_a_late_seq_is_out_of_order_once_then_a_duplicate() -> None:
    state = after(1, 3)
    first = judge(state, 2, at=T0 + timedelta(seconds=2))
    assert first.gate_reasons == (GateReason.OUT_OF_ORDER,) and not first.triggers
    assert first.state.strategies == state.strategies, "a late signal must not touch the indicator memory"
    assert judge(first.state, 2).gate_reasons == (GateReason.DUPLICATE,)


def test_a_seq_below_the_window_is_out_of_order() -> None:
    state = after(1, SEQ_WINDOW + 10)
    assert judge(state, 5).gate_reasons == (GateReason.OUT_OF_ORDER,)


def test_event_time_going_backwards_is_out_of_order() -> None:
    state = after(1, 2)
    evaluation = judge(state, 3, at=T0)  # seq 3 stamped before seq 2
    assert evaluation.gate_reasons == (GateReason.OUT_OF_ORDER,) and not evaluation.triggers
    assert evaluation.state.last_event_ts == state.last_event_ts


@pytest.mark.parametrize("name", ["price", "macd", "macd_signal", "rsi14"])
def test_missing_required_field(name: str) -> None:
    evaluation = judge(after(1), 2, **{name: None})  # type: ignore[arg-type]
    assert evaluation.gate_reasons == (GateReason.MISSING_REQUIRED_FIELD,) and not evaluation.triggers
    assert evaluation.state.seq.last == 2, "the seq is consumed: a redelivery is a duplicate"


def test_a_signal_whose_indicators_are_warming_up_fires_nothing() -> None:
    warming = judge(after(1), 2, warmup=True)
    assert warming.gate_reasons == (GateReason.WARMING_UP,) and not warming.triggers
    assert judge(after(1), 2, warmup=False).triggers, "a settled signal fires as one without the flag does"


def test_stale_against_the_reference_clock() -> None:
    budget = GateConfig().max_staleness.total_seconds()
    assert judge(after(1), 2, reference_delay=budget).gate_reasons == (), "the budget itself is not stale"
    stale = judge(after(1), 2, reference_delay=budget + 1)
    assert stale.gate_reasons == (GateReason.STALE,) and not stale.triggers
    assert stale.state.strategies["macd"].values == {"relation": "above"}, \
        "a stale cross is consumed: it must not fire later either"
    assert not judge(stale.state, 3, reference_delay=0).triggers


def test_from_the_future_in_live_mode_only() -> None:
    future = judge(after(1), 2, reference_delay=-60)
    assert future.gate_reasons == (GateReason.FROM_THE_FUTURE,) and not future.triggers
    assert future.state.last_event_ts == after(1).last_event_ts, "a bad clock must not drag the symbol forward"
    replay = EngineConfig(BOOK, GateConfig(max_future_skew=None))
    assert judge(after(1), 2, replay, reference_delay=-60).triggers


@pytest.mark.parametrize("side", ["bid", "ask"])
def test_missing_quote(side: str) -> None:
    missing: dict[str, object] = {side: None}
    evaluation = judge(after(1), 2, **missing)  # type: ignore[arg-type]
    assert evaluation.gate_reasons == (GateReason.MISSING_QUOTE,) and not evaluation.triggers
    no_quote_needed = EngineConfig(BOOK, GateConfig(require_quote=False))
    assert judge(after(1), 2, no_quote_needed, **missing).triggers  # type: ignore[arg-type]


def test_crossed_quote() -> None:
    evaluation = judge(after(1), 2, bid=D("100.02"), ask=D("100.00"))
    assert evaluation.gate_reasons == (GateReason.CROSSED_QUOTE,) and not evaluation.triggers
    no_quote_needed = EngineConfig(BOOK, GateConfig(require_quote=False))
    assert judge(after(1), 2, no_quote_needed, bid=D("100.02"), ask=D("100.00")).gate_reasons == (
        GateReason.CROSSED_QUOTE,), "a quote that is there must be sane even when not required"


def test_spread_above_the_maximum() -> None:
    assert judge(after(1), 2, bid=D("99.75"), ask=D("100.25")).gate_reasons == (), "exactly 50 bps passes"
    wide = judge(after(1), 2, bid=D("99.7"), ask=D("100.3"))
    assert wide.gate_reasons == (GateReason.SPREAD_TOO_WIDE,) and not wide.triggers
    reported_wider = judge(after(1), 2, spread_bps=D(80))
    assert reported_wider.gate_reasons == (GateReason.SPREAD_TOO_WIDE,), "the wider of computed and reported"


def test_every_failing_content_gate_is_reported() -> None:
    evaluation = judge(after(1), 2, reference_delay=3600, rsi14=None, bid=None)
    assert set(evaluation.gate_reasons) == {GateReason.MISSING_REQUIRED_FIELD, GateReason.STALE,
                                            GateReason.MISSING_QUOTE}


# -- the anti-replay window against a model that remembers everything ------------------------------------
@given(st.lists(st.integers(min_value=0, max_value=SEQ_WINDOW * 3), max_size=200))
def test_seq_window_matches_a_perfect_memory(seqs: list[int]) -> None:
    window, seen = SeqWindow(), set[int]()
    for seq in seqs:
        verdict = window.classify(seq)
        highest = max(seen) if seen else None
        if highest is None or seq > highest:
            assert verdict is SeqVerdict.NEW
        elif highest - seq >= SEQ_WINDOW:
            assert verdict is SeqVerdict.TOO_OLD
        else:
            assert verdict is (SeqVerdict.DUPLICATE if seq in seen else SeqVerdict.LATE)
        window = window.record(seq)
        if highest is None or highest - seq < SEQ_WINDOW:
            seen.add(seq)
