"""Janus-Q events: event/CAR against a hand-worked example, a deterministic event artifact carrying its
hashes, plain decimals, event type normalisation."""

from __future__ import annotations

import pytest
from torghut_research.janus import events
from torghut_research.janus.numbers import decimal_text
from torghut_research.janus.settings import JanusSettings

from .conftest import PRICES, T, demo_signals, row_of


def test_car_matches_the_hand_worked_example() -> None:
    """One-bar returns r = p_next / p - 1 (the last bar of each symbol has none):

        t1: AAA 102/100 - 1 = +0.02   BBB 50.5/50 - 1 = +0.01   CCC 19.8/20 - 1 = -0.01
            market m1 = (0.02 + 0.01 - 0.01) / 3 = 0.0066667
            AR: AAA +0.0133333   BBB +0.0033333   CCC -0.0166667
        t2: AAA 100.98/102 - 1 = -0.01   BBB 51.005/50.5 - 1 = +0.01   CCC 20.196/19.8 - 1 = +0.02
            market m2 = 0.02 / 3 = 0.0066667
            AR: AAA -0.0166667   BBB +0.0033333   CCC +0.0133333
        t3: no next bar: no return, CAR 0, direction neutral, window incomplete.

    With a 1-bar window, CAR = AR of the event's bar. With 2 bars, CAR at t1 = AR(t1) + AR(t2):
    AAA +0.0133333 - 0.0166667 = -0.0033333; BBB +0.0066667; CCC -0.0033333; at t2 only one bar
    is left (CAR = AR(t2), 1 of 2 bars observed).
    """
    signals = demo_signals()
    one = events.compute_events(signals, JanusSettings())
    two = events.compute_events(signals, JanusSettings(event_window_bars=2))
    expected_one = {("AAA", 0): 0.02 / 1.5, ("BBB", 0): 0.01 / 3, ("CCC", 0): -0.05 / 3,
                    ("AAA", 1): -0.05 / 3, ("BBB", 1): 0.01 / 3, ("CCC", 1): 0.04 / 3}
    expected_two = {("AAA", 0): -0.01 / 3, ("BBB", 0): 0.02 / 3, ("CCC", 0): -0.01 / 3,
                    ("AAA", 1): -0.05 / 3, ("BBB", 1): 0.01 / 3, ("CCC", 1): 0.04 / 3}
    for (symbol, step), car in expected_one.items():
        row = row_of(signals, symbol, step)
        assert one.car[row] == pytest.approx(car, abs=1e-12)
        assert two.car[row] == pytest.approx(expected_two[symbol, step], abs=1e-12)
        assert one.market_return[row] == pytest.approx(0.02 / 3, abs=1e-12)
    for symbol in PRICES:
        last = row_of(signals, symbol, 2)
        assert one.car[last] == 0 and one.direction[last] == 0 and one.window_bars_observed[last] == 0
        assert two.window_bars_observed[row_of(signals, symbol, 1)] == 1
        assert two.window_bars_observed[row_of(signals, symbol, 0)] == 2
        assert two.end_row[row_of(signals, symbol, 0)] == last
    aaa = row_of(signals, "AAA", 0)
    assert one.raw_return[aaa] == pytest.approx(0.02) and one.direction[aaa] == 1 and one.strong[aaa]
    assert not events.compute_events(signals, JanusSettings(strong_threshold=0.005)).strong[row_of(signals, "BBB", 0)]
    identity = events.compute_events(signals, JanusSettings(abnormal_return_model="identity"))
    assert identity.car[aaa] == pytest.approx(0.02) and identity.market_return[aaa] == 0
    assert one.event_type(aaa) == "technical_indicator" and one.event_type(row_of(signals, "CCC", 0)) == "unknown_event"
    summary = events.summary(one)
    assert summary["event_count"] == 9 and summary["neutral_direction_count"] == 3
    assert summary["unknown_event_type_count"] == 3 and summary["incomplete_window_event_count"] == 3


def test_event_artifact_is_deterministic_and_carries_its_hashes() -> None:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    rows = [row_of(signals, "AAA", 0), row_of(signals, "CCC", 1), row_of(signals, "AAA", 0)]
    body = events.build_event_car_artifact(signals, table, run_id="r", generated_at=T[2], rows=rows)
    again = events.build_event_car_artifact(signals, events.compute_events(signals, JanusSettings()), run_id="r",
                                            generated_at=T[2], rows=list(reversed(rows)))
    assert body == again and body["record_count"] == 2
    assert [r["symbol"] for r in body["records"]] == ["AAA", "CCC"]
    assert body["manifest_hash"] == events.manifest_hash(body)
    assert body["records"][0]["car"] == "0.0133333333333" and body["records"][0]["semantic_direction"] == "long"
    assert body["dataset_manifest"]["signal_dataset_hash"] == signals.dataset_hash
    window_two = events.build_event_car_artifact(signals, events.compute_events(
        signals, JanusSettings(event_window_bars=2)), run_id="r", generated_at=T[2], rows=rows)
    assert window_two["lineage"]["run_config_hash"] != body["lineage"]["run_config_hash"]
    assert window_two["dataset_manifest"]["event_table_hash"] != body["dataset_manifest"]["event_table_hash"]


@pytest.mark.parametrize(("value", "text"), [
    (100.0, "100"), (1e-5, "0.00001"), (-0.0025, "-0.0025"), (0.0, "0"), (-0.0, "0"), (1e20, "100000000000000000000"),
    (0.1 + 0.2, "0.3"), (2.5e-13, "0.00000000000025")])
def test_decimals_are_plain(value: float, text: str) -> None:
    assert decimal_text(value) == text


@pytest.mark.parametrize(("label", "normalised"), [
    ("Earnings-Call", "earnings"), ("earnings release", "earnings"), ("guidance_update", "guidance"),
    ("MACRO_NEWS", "macro"), ("  ", None), (None, None), ("macd_cross_up", "macd_cross_up")])
def test_event_type_normalisation(label: str | None, normalised: str | None) -> None:
    assert events.normalise_event_type(label) == normalised
