"""Janus-Q evidence: the summary's reason codes, gate6's, live never passing on Janus alone (the policy,
the approval token and the switch decide), and the promotion prerequisites checking the artifacts and
the reported evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from torghut_research.gates.decision import evaluate_matrix, janus_reasons
from torghut_research.gates.matrix import GateInputs, Measured
from torghut_research.gates.promotion import promotion_prerequisites
from torghut_research.janus import events, hgrm
from torghut_research.janus.evidence import evidence_summary, promotion_evidence
from torghut_research.policy import GatePolicy

from .conftest import T, decision, demo_signals, reward_artifact


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
