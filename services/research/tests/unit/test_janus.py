"""Janus-Q: event/CAR against a hand-worked example, HGRM components as tables, evidence reason codes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from torghut_research.config import Costs, Portfolio
from torghut_research.gates.decision import evaluate_matrix, janus_reasons
from torghut_research.gates.matrix import GateInputs, Measured
from torghut_research.gates.promotion import promotion_prerequisites
from torghut_research.janus import events, hgrm
from torghut_research.janus.evidence import evidence_summary, promotion_evidence
from torghut_research.janus.numbers import decimal_text
from torghut_research.janus.settings import HgrmConfig, JanusSettings
from torghut_research.policy import GatePolicy
from torghut_research.signals import Inbound, SignalSet, build_signal_set

T = ("2026-02-12T15:00:00Z", "2026-02-12T15:01:00Z", "2026-02-12T15:02:00Z")
PRICES = {"AAA": (100.0, 102.0, 100.98), "BBB": (50.0, 50.5, 51.005), "CCC": (20.0, 19.8, 20.196)}


def demo_signals() -> SignalSet:
    """Three symbols at three timestamps, interleaved by time as a topic delivers them.

    AAA and BBB carry MACD/RSI (technical events); CCC carries none (unknown events). AAA's quotes
    are 10 bps wide at t1 and t2, for the cost model.
    """
    records = []
    for i, ts in enumerate(T):
        for symbol, prices in PRICES.items():
            body: dict[str, Any] = {"symbol": symbol, "event_ts": ts, "seq": i + 1, "window": "PT1M",
                                    "price": str(prices[i])}
            if symbol != "CCC":
                body |= {"macd": "0.1", "macd_signal": "0.05", "rsi14": "50"}
            if symbol == "AAA":
                half = prices[i] * 0.0005
                body |= {"bid": f"{prices[i] - half:.6f}", "ask": f"{prices[i] + half:.6f}"}
            records.append(Inbound("test", len(records) + 1, json.dumps(body).encode()))
    return build_signal_set("test", records)


def row_of(signals: SignalSet, symbol: str, step: int) -> int:
    return next(r for r in range(len(signals)) if signals.columns.symbol[r] == symbol
                and signals.columns.seq[r] == step + 1)


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


def decision(signals: SignalSet, symbol: str, step: int, action: str, trigger_type: str = "macd_cross_up", *,
             rationale: str | None = "rule fired", seq: int | None = None) -> hgrm.Decision:
    row = row_of(signals, symbol, step)
    return hgrm.Decision("fold_1", row, f"req-{symbol}-{step}-{action}", "s1", symbol, action, trigger_type,
                         int(signals.columns.event_ns[row]), seq if seq is not None else step + 1, rationale)


FLAT = HgrmConfig(transaction_cost_bps=10)
A1 = 0.02 / 1.5  # AAA's CAR at t1


# (case, symbol, step, action, trigger type, rationale, config, expected: gate, type gate, final, clipped)
CASES = [
    ("right direction", "AAA", 0, "buy", "macd_cross_up", "r", FLAT,
     "match", "match", 100 * (A1 - 0.001) + 100 * A1 + 0.01, False),
    ("wrong direction: removed", "AAA", 0, "sell", "macd_cross_down", "r", FLAT, "mismatch", "match", 0.0, False),
    ("wrong direction, softer gate: negative only", "AAA", 0, "sell", "macd_cross_down", "r",
     FLAT.model_copy(update={"direction_gate_mismatch": 0.5}),
     "mismatch", "match", 0.5 * (100 * (-A1 - 0.001) - 100 * A1 + 0.01), False),
    ("wrong direction with a big bonus: capped at 0", "BBB", 0, "sell", "macd_cross_down", "r",
     FLAT.model_copy(update={"direction_gate_mismatch": 1.0, "process_reward_bonus": 5.0}),
     "mismatch", "match", 0.0, False),
    ("event type inconsistent: soft-gated", "AAA", 0, "buy", "earnings-call", "r", FLAT,
     "match", "mismatch", 0.4 * (100 * (A1 - 0.001) + 100 * A1) + 0.01, False),
    ("no predicted type, no rationale", "AAA", 0, "buy", "", None, FLAT,
     "match", "unknown", 0.7 * (100 * (A1 - 0.001) + 100 * A1), False),
    ("unknown event vs a technical rule", "CCC", 1, "buy", "rsi_oversold_reversion", "r", FLAT,
     "match", "mismatch", 0.4 * (100 * (0.04 / 3 - 0.001) + 100 * 0.04 / 3) + 0.01, False),
    ("event did not move: neutral", "AAA", 2, "buy", "macd_cross_up", "r", FLAT,
     "neutral", "match", 0.5 * (100 * -0.001 + 0.01), False),
    ("clipped", "AAA", 0, "buy", "macd_cross_up", "r", FLAT.model_copy(update={"return_scale": 1000.0}),
     "match", "match", 3.0, True),
    ("cost eats a small move", "BBB", 0, "buy", "macd_cross_up", "r", HgrmConfig(transaction_cost_bps=50),
     "match", "match", 100 * (0.01 / 3 - 0.005) + 100 * 0.01 / 3 + 0.01, False),
]


@pytest.mark.parametrize(("case", "symbol", "step", "action", "trigger_type", "rationale", "config", "gate",
                          "type_gate", "final", "clipped"), CASES, ids=[c[0] for c in CASES])
def test_hgrm_components(case: str, symbol: str, step: int, action: str, trigger_type: str, rationale: str | None,
                         config: HgrmConfig, gate: str, type_gate: str, final: float, clipped: bool) -> None:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    d = decision(signals, symbol, step, action, trigger_type, rationale=rationale)
    parts = hgrm.score([d], table, signals, config, costs=Costs(), portfolio=Portfolio())
    assert parts.direction_gate == [gate] and parts.type_gate == [type_gate]
    assert parts.final[0] == pytest.approx(final, abs=1e-9)
    assert bool(parts.final[0] != parts.unclipped[0]) is clipped
    if gate == "mismatch":
        assert parts.final[0] <= 0


def test_unmapped_decision_is_neutral_and_unclassified() -> None:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    parts = hgrm.score([decision(signals, "AAA", 0, "buy", seq=99)], table, signals, FLAT, costs=Costs(),
                       portfolio=Portfolio())
    assert not parts.mapped[0] and parts.direction_gate == ["neutral"] and parts.event_types == ["unclassified_event"]
    assert parts.car[0] == 0


def test_cost_comes_from_the_lane_cost_model() -> None:
    """AAA's quotes are 10 bps wide at t1 and t2: half spread 5 + slippage 1 = 6 bps a fill, 12 a round trip.
    CCC has no quote: the default spread 5 gives 2.5 + 1 = 3.5 a fill, 7 a round trip; commission adds
    its bps on both fills."""
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    decisions = [decision(signals, "AAA", 0, "buy"), decision(signals, "CCC", 0, "sell")]
    parts = hgrm.score(decisions, table, signals, HgrmConfig(), costs=Costs(), portfolio=Portfolio())
    assert parts.cost_bps == pytest.approx([12.0, 7.0], abs=1e-6)
    with_commission = hgrm.score(decisions, table, signals, HgrmConfig(), costs=Costs(commission_bps=2),
                                 portfolio=Portfolio())
    assert with_commission.cost_bps == pytest.approx([16.0, 11.0], abs=1e-6)


def test_a_negative_direction_multiplier_is_refused() -> None:
    """Upstream's -1 times an already negative P&L paid the wrong direction."""
    with pytest.raises(ValidationError):
        HgrmConfig(direction_gate_mismatch=-1)


def reward_artifact(decisions: list[hgrm.Decision]) -> tuple[SignalSet, dict[str, Any], dict[str, Any]]:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    car = events.build_event_car_artifact(signals, table, run_id="r", generated_at=T[2],
                                          rows=[d.row for d in decisions])
    reward = hgrm.build_hgrm_artifact(decisions, table, signals, HgrmConfig(), costs=Costs(), portfolio=Portfolio(),
                                      event_car=car, run_id="r", candidate_id="cand-r", generated_at=T[2],
                                      parent=events.ARTIFACT, parent_sha256="0" * 64)
    return signals, car, reward


def test_hgrm_artifact_summary_and_hashes() -> None:
    signals = demo_signals()
    decisions = [decision(signals, "AAA", 0, "buy"), decision(signals, "AAA", 0, "sell"),
                 decision(signals, "BBB", 1, "buy", seq=42)]
    _, car, reward = reward_artifact(decisions)
    summary = reward["summary"]
    assert summary["reward_count"] == 3 and summary["event_mapped_count"] == 2 and summary["hard_gate_fail_count"] == 1
    assert summary["direction_gate_pass_ratio"] == "0.333333333333"
    assert reward["manifest_hash"] == hgrm.manifest_hash(reward)
    assert reward["lineage"]["event_manifest_hash"] == car["manifest_hash"]
    assert len({r["reward_id"] for r in reward["rewards"]}) == 3
    evidence = evidence_summary(car, reward, event_car_sha256="a" * 64, reward_sha256="b" * 64)
    assert evidence["reasons"] == ["janus_reward_event_mapping_incomplete"] and not evidence["evidence_complete"]


def _summary(event_count: int = 9, reward_count: int = 2, mapped: int = 2) -> dict[str, Any]:
    car = {"schema_version": events.SCHEMA, "manifest_hash": "m1", "methodology": {"event_window_bars": 1},
           "summary": {"event_count": event_count, "strong_event_count": 1}}
    reward = {"schema_version": hgrm.SCHEMA, "manifest_hash": "m2",
              "summary": {"reward_count": reward_count, "event_mapped_count": mapped, "hard_gate_fail_count": 0,
                          "direction_gate_pass_ratio": "1", "mean_final_reward": "0.1"}}
    return evidence_summary(car, reward, event_car_sha256="a" * 64, reward_sha256="b" * 64)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"event_count": 0}, "janus_event_count_missing"), ({"reward_count": 0, "mapped": 0}, "janus_reward_count_missing"),
    ({"mapped": 1}, "janus_reward_event_mapping_incomplete")])
def test_evidence_summary_reasons(kwargs: dict[str, int], reason: str) -> None:
    summary = _summary(**kwargs)
    assert summary["reasons"] == [reason] and summary["evidence_complete"] is False
    assert _summary()["evidence_complete"] is True and _summary()["reasons"] == []


POLICY = GatePolicy()


@pytest.mark.parametrize(("change", "reasons"), [
    (lambda s: None, ["janus_q_evidence_missing"]),
    (lambda s: s | {"schema_version": "janus-q-evidence-v0"}, ["janus_q_evidence_schema_invalid"]),
    (lambda s: s | {"evidence_complete": False}, ["janus_q_evidence_incomplete"]),
    (lambda s: s | {"event_car": s["event_car"] | {"schema_version": "x"}}, ["janus_event_car_schema_invalid"]),
    (lambda s: s | {"event_car": s["event_car"] | {"event_count": 0}}, ["janus_event_car_count_below_threshold"]),
    (lambda s: s | {"hgrm_reward": s["hgrm_reward"] | {"schema_version": "x"}}, ["janus_hgrm_reward_schema_invalid"]),
    (lambda s: s | {"hgrm_reward": s["hgrm_reward"] | {"reward_count": 0}},
     ["janus_hgrm_reward_count_below_threshold"]),
    (lambda s: s, []),
])
def test_gate6_janus_reasons(change: Any, reasons: list[str]) -> None:
    assert janus_reasons(change(_summary()), POLICY) == reasons


GOOD_EVIDENCE = {
    "schema_version": "profitability-evidence-v4", "benchmark": {"schema_version": "profitability-benchmark-v4"},
    "validation": {"passed": True},
    "confidence_calibration": {"coverage_error": 0.01, "shift_score": 0.2, "avg_interval_width": 1.0,
                               "target_coverage": 0.9, "observed_coverage": 0.89, "calibration_error": 0.01},
    "risk_adjusted_metrics": {"market_net_pnl_delta": 10.0, "regime_slice_pass_ratio": 1.0,
                              "return_over_drawdown": 2.0},
    "cost_fill_realism": {"cost_bps": 5.0},
    "reproducibility": {"artifact_hashes": {k: "0" * 64 for k in ("a", "b", "c", "d", "e")}},
    "janus_q": _summary(),
}
GOOD = GateInputs(
    target="live", feature_schema_version="torghut.ta.signals.v1", null_rate=0.0,
    staleness_ms_p95=Measured(1000.0), symbol_coverage=5,
    metrics={"decision_count": 20, "trade_count": 10, "net_pnl": 100.0, "max_drawdown": 50.0, "turnover_ratio": 4.0,
             "cost_bps": 5.0},
    robustness={"fold_count": 5, "negative_fold_ratio": 0.2, "net_pnl_cv": 0.5}, deflated_sharpe=0.9,
    fragility_score=0.0, fragility_state="normal", stability_mode_active=Measured(False, "evidence"), tca=None,
    llm_error_ratio=Measured(0.0), forecast={},
    operational={k: Measured(True, "evidence") for k in (
        "operational_ready", "runbook_validated", "kill_switch_dry_run_passed", "rollback_dry_run_passed")},
    profitability=GOOD_EVIDENCE, approval_token_present=False, live_switch_on=False)


@pytest.mark.parametrize(("policy_on", "token", "switch"), [
    (p, t, s) for p in (False, True) for t in (False, True) for s in (False, True) if not (p and t and s)])
def test_janus_evidence_cannot_make_live_pass_without_policy_token_and_switch(policy_on: bool, token: bool,
                                                                               switch: bool) -> None:
    policy = GatePolicy(gate3_require_forecast_metrics=False, gate5_live_enabled=policy_on)
    inputs = replace(GOOD, approval_token_present=token, live_switch_on=switch)
    result = evaluate_matrix(inputs, policy, recalibration_ref="r", evaluated_at=T[2], code_version="t")
    gate6 = next(g for g in result["gates"] if g["gate_id"] == "gate6_profitability_evidence")
    assert gate6["status"] == "pass" and gate6["details"]["janus_q"]["evidence_complete"]
    assert result["recommended_mode"] == "paper" and not result["promotion_allowed"]
    assert set(result["reasons"]) <= {"live_rollout_disabled_by_policy", "approval_token_missing",
                                      "live_promotion_switch_off"} and result["reasons"]
    everything = evaluate_matrix(replace(GOOD, approval_token_present=True, live_switch_on=True),
                                 GatePolicy(gate3_require_forecast_metrics=False, gate5_live_enabled=True),
                                 recalibration_ref="r", evaluated_at=T[2], code_version="t")
    assert everything["recommended_mode"] == "live"  # the three switches, not Janus, decide


def _prerequisite_reasons(tmp_path: Path, *, write: bool = True, reference: dict[str, Any] | None = None,
                          tamper: Any = None) -> list[str]:
    signals = demo_signals()
    _, car, reward = reward_artifact([decision(signals, "AAA", 0, "buy")])
    from torghut_research.canonical import dumps, sha256

    blobs = {events.ARTIFACT: dumps(car).encode(), hgrm.ARTIFACT: dumps(reward).encode()}
    summary = evidence_summary(car, reward, event_car_sha256=sha256(blobs[events.ARTIFACT]),
                               reward_sha256=sha256(blobs[hgrm.ARTIFACT]))
    if write:
        for name, data in blobs.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
    if tamper:
        tamper(tmp_path)
    report = {"promotion_allowed": True, "recommended_mode": "paper", "run_id": "r", "uncertainty_gate_action": "pass",
              "coverage_error": 0.0, "gates": [{"gate_id": g, "status": "pass"} for g in (
                  "gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity",
                  "gate7_uncertainty_calibration")],
              "throughput": {"no_signal_window": False, "signal_count": 9, "decision_count": 1, "trade_count": 1},
              "promotion_evidence": {"fold_metrics": {"count": 1}, "stress_metrics": {"count": 4},
                                     "promotion_rationale": {"requested_target": "paper",
                                                             "gate_recommended_mode": "paper", "rationale_text": "x"},
                                     **({"janus_q": reference if reference is not None else promotion_evidence(summary)}
                                        if reference != {} else {})}}
    policy = GatePolicy(promotion_required_artifacts=(), promotion_require_patch_targets=(),
                        promotion_profitability_required_artifacts=())
    result = promotion_prerequisites(policy, report, {"runId": "r"}, "paper", tmp_path)
    return [r for r in result["reasons"] if r.startswith("janus") or r == "required_artifacts_missing"]


def _rewrite(name: str, change: Any) -> Any:
    def apply(root: Path) -> None:
        body = json.loads((root / name).read_text())
        change(body)
        (root / name).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return apply


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, []),
    ({"write": False}, ["janus_event_car_artifact_missing", "janus_hgrm_reward_artifact_missing",
                        "required_artifacts_missing"]),
    ({"tamper": _rewrite(hgrm.ARTIFACT, lambda b: b["rewards"][0].update(final_reward="2.5"))},
     ["janus_q_evidence_hash_mismatch"]),
    ({"tamper": _rewrite(events.ARTIFACT, lambda b: b.update(schema_version="janus-event-car-v0"))},
     ["janus_event_car_schema_invalid"]),
    ({"tamper": _rewrite(hgrm.ARTIFACT, lambda b: b["summary"].update(reward_count=0))},
     ["janus_hgrm_reward_count_below_minimum", "janus_q_evidence_hash_mismatch"]),
    ({"reference": {}}, ["janus_q_evidence_hash_mismatch", "janus_q_evidence_missing"]),
])
def test_prerequisite_janus_reasons(tmp_path: Path, kwargs: dict[str, Any], expected: list[str]) -> None:
    assert _prerequisite_reasons(tmp_path, **kwargs) == expected


def test_prerequisites_check_the_reported_evidence(tmp_path: Path) -> None:
    weak = promotion_evidence(_summary(reward_count=0, mapped=0))
    reasons = _prerequisite_reasons(tmp_path, reference=weak)
    assert {"janus_hgrm_reward_evidence_insufficient", "janus_q_evidence_incomplete",
            "janus_q_evidence_hash_mismatch"} <= set(reasons)
