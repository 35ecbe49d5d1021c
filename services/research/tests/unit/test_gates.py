"""Each gate's reason codes, one perturbation at a time, and the matrix's decision rule."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest
from torghut_research.gates.decision import evaluate_matrix, uncertainty_action
from torghut_research.gates.matrix import GateInputs, Measured
from torghut_research.policy import GatePolicy

POLICY = GatePolicy(gate6_require_janus_evidence=False, gate3_require_forecast_metrics=True)
CALIBRATION = {"coverage_error": 0.01, "shift_score": 0.2, "avg_interval_width": 1.0, "target_coverage": 0.9,
               "observed_coverage": 0.89, "calibration_error": 0.01}
EVIDENCE = {
    "schema_version": "profitability-evidence-v4", "benchmark": {"schema_version": "profitability-benchmark-v4"},
    "validation": {"passed": True}, "confidence_calibration": CALIBRATION,
    "risk_adjusted_metrics": {"market_net_pnl_delta": 10.0, "regime_slice_pass_ratio": 1.0,
                              "return_over_drawdown": 2.0},
    "cost_fill_realism": {"cost_bps": 5.0},
    "reproducibility": {"artifact_hashes": {k: "0" * 64 for k in ("a", "b", "c", "d", "e")}},
}
GOOD = GateInputs(
    target="paper", feature_schema_version="torghut.ta.signals.v1", null_rate=0.0,
    staleness_ms_p95=Measured(1000.0), symbol_coverage=5,
    metrics={"decision_count": 20, "trade_count": 10, "net_pnl": 100.0, "max_drawdown": 50.0, "turnover_ratio": 4.0,
             "cost_bps": 5.0},
    robustness={"fold_count": 5, "negative_fold_ratio": 0.2, "net_pnl_cv": 0.5}, deflated_sharpe=0.9,
    fragility_score=0.0, fragility_state="normal", stability_mode_active=Measured(False, "evidence"), tca=None,
    llm_error_ratio=Measured(0.0), forecast={k: Measured(v, "evidence") for k, v in (
        ("fallback_rate", 0.01), ("inference_latency_ms_p95", 100.0), ("calibration_score_min", 0.9))},
    operational={k: Measured(True, "evidence") for k in (
        "operational_ready", "runbook_validated", "kill_switch_dry_run_passed", "rollback_dry_run_passed")},
    profitability=EVIDENCE, approval_token_present=False, live_switch_on=False)


def matrix(inputs: GateInputs, policy: GatePolicy = POLICY) -> dict[str, Any]:
    return evaluate_matrix(inputs, policy, recalibration_ref="gates/recalibration-report.json",
                           evaluated_at="2026-02-12T21:00:00Z", code_version="test")


def reasons(inputs: GateInputs, policy: GatePolicy = POLICY) -> list[str]:
    return matrix(inputs, policy)["reasons"]


def test_good_inputs_pass_every_gate_for_paper() -> None:
    result = matrix(GOOD)
    assert result["reasons"] == [] and result["promotion_allowed"] and result["recommended_mode"] == "paper"
    assert [g["gate_id"] for g in result["gates"]] == [
        "gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity", "gate3_shadow_paper_quality",
        "gate4_operational_readiness", "gate6_profitability_evidence", "gate7_uncertainty_calibration",
        "gate5_live_ramp_readiness"]


def _metrics(**changes: Any) -> dict[str, Any]:
    return {**GOOD.metrics, **changes}


def _evidence(section: str, **changes: Any) -> dict[str, Any]:
    return {**EVIDENCE, section: {**EVIDENCE[section], **changes}}


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("schema", {"feature_schema_version": "torghut.ta.signals.v2"}, "schema_version_incompatible"),
    ("nulls", {"null_rate": 0.2}, "required_feature_null_rate_exceeds_threshold"),
    ("stale", {"staleness_ms_p95": Measured(500_000.0)}, "feature_staleness_exceeds_budget"),
    ("staleness unknown", {"staleness_ms_p95": Measured.missing()}, "feature_staleness_missing"),
    ("no symbols", {"symbol_coverage": 0}, "symbol_coverage_below_minimum"),
    ("few decisions", {"metrics": _metrics(decision_count=0)}, "decision_count_below_minimum"),
    ("few trades", {"metrics": _metrics(trade_count=0)}, "trade_count_below_minimum"),
    ("losing", {"metrics": _metrics(net_pnl=-1.0)}, "net_pnl_below_minimum"),
    ("negative folds", {"robustness": {**GOOD.robustness, "negative_fold_ratio": 0.8}},
     "negative_fold_ratio_exceeds_threshold"),
    ("unstable", {"robustness": {**GOOD.robustness, "net_pnl_cv": 3.0}}, "net_pnl_cv_exceeds_threshold"),
    ("luck", {"deflated_sharpe": 0.3}, "deflated_sharpe_below_threshold"),
    ("no sharpe", {"deflated_sharpe": None}, "deflated_sharpe_missing"),
    ("drawdown", {"metrics": _metrics(max_drawdown=1000.0)}, "drawdown_exceeds_maximum"),
    ("turnover", {"metrics": _metrics(turnover_ratio=9.0)}, "turnover_ratio_exceeds_maximum"),
    ("costly", {"metrics": _metrics(cost_bps=40.0)}, "cost_bps_exceeds_maximum"),
    ("fragile", {"fragility_score": 0.9}, "fragility_score_exceeds_maximum"),
    ("crisis", {"fragility_state": "crisis", "stability_mode_active": Measured(True)},
     "fragility_state_exceeds_maximum"),
    ("stress without stability mode", {"fragility_state": "stress"}, "fragility_stability_mode_inactive"),
    ("tca slippage", {"tca": {"order_count": 3, "avg_slippage_bps": 30, "avg_shortfall_notional": 1,
                              "churn_ratio": 0.1}}, "tca_slippage_exceeds_maximum"),
    ("tca churn", {"tca": {"order_count": 3, "avg_slippage_bps": 1, "avg_shortfall_notional": 1,
                           "churn_ratio": 0.9}}, "tca_churn_ratio_exceeds_maximum"),
    ("llm errors", {"llm_error_ratio": Measured(0.5)}, "llm_error_ratio_exceeds_threshold"),
    ("llm unknown", {"llm_error_ratio": Measured.missing()}, "llm_error_ratio_missing"),
    ("forecast fallbacks", {"forecast": {**GOOD.forecast, "fallback_rate": Measured(0.5)}},
     "forecast_fallback_rate_exceeds_threshold"),
    ("forecast unknown", {"forecast": {**GOOD.forecast, "calibration_score_min": Measured.missing()}},
     "forecast_calibration_score_missing"),
    ("forecast latency", {"forecast": {**GOOD.forecast, "inference_latency_ms_p95": Measured.missing()}},
     "forecast_inference_latency_p95_missing"),
    ("not ready", {"operational": {**GOOD.operational, "operational_ready": Measured.missing()}},
     "operational_readiness_incomplete"),
    ("runbook", {"operational": {**GOOD.operational, "runbook_validated": Measured(False, "evidence")}},
     "runbook_not_validated"),
    ("kill switch", {"operational": {**GOOD.operational, "kill_switch_dry_run_passed": Measured.missing()}},
     "kill_switch_dry_run_failed"),
    ("rollback", {"operational": {**GOOD.operational, "rollback_dry_run_passed": Measured.missing()}},
     "rollback_dry_run_failed"),
    ("no evidence", {"profitability": {}}, "profitability_evidence_missing"),
    ("bad schema", {"profitability": {**EVIDENCE, "schema_version": "v3"}}, "profitability_evidence_schema_invalid"),
    ("validation", {"profitability": {**EVIDENCE, "validation": {"passed": False}}},
     "profitability_evidence_validation_failed"),
    ("below baseline", {"profitability": _evidence("risk_adjusted_metrics", market_net_pnl_delta=-5.0)},
     "profitability_market_net_pnl_delta_below_threshold"),
    ("regimes", {"profitability": _evidence("risk_adjusted_metrics", regime_slice_pass_ratio=0.0)},
     "profitability_regime_slice_ratio_below_threshold"),
    ("return over drawdown", {"profitability": _evidence("risk_adjusted_metrics", return_over_drawdown=-1.0)},
     "profitability_return_over_drawdown_below_threshold"),
    ("hashes", {"profitability": _evidence("reproducibility", artifact_hashes={})},
     "profitability_reproducibility_hashes_below_threshold"),
    ("calibration error", {"profitability": _evidence("confidence_calibration", calibration_error=None)},
     "profitability_calibration_error_exceeds_threshold"),
    ("coverage degrade", {"profitability": _evidence("confidence_calibration", coverage_error=0.04)},
     "coverage_error_slo_exceeded"),
    ("shift", {"profitability": _evidence("confidence_calibration", shift_score=0.97)},
     "regime_shift_score_fail_threshold_exceeded"),
    ("calibration unknown", {"profitability": _evidence("confidence_calibration", shift_score=None)},
     "uncertainty_inputs_missing_or_invalid"),
]


@pytest.mark.parametrize(("changes", "reason"), [(c, r) for _, c, r in CASES], ids=[n for n, _, _ in CASES])
def test_each_failure_is_named_and_blocks_paper(changes: dict[str, Any], reason: str) -> None:
    result = matrix(replace(GOOD, **changes))
    assert reason in result["reasons"]
    assert not result["promotion_allowed"] and result["recommended_mode"] == "shadow"


def test_every_failing_reason_is_collected_not_only_the_first() -> None:
    found = reasons(replace(GOOD, null_rate=0.5, symbol_coverage=0, metrics=_metrics(net_pnl=-1.0, cost_bps=99.0)))
    assert {"required_feature_null_rate_exceeds_threshold", "symbol_coverage_below_minimum", "net_pnl_below_minimum",
            "cost_bps_exceeds_maximum"} <= set(found)


def test_forecast_metrics_can_be_waived_by_policy_and_the_report_says_so() -> None:
    waived = GatePolicy(gate6_require_janus_evidence=False, gate3_require_forecast_metrics=False)
    inputs = replace(GOOD, forecast={k: Measured.missing() for k in GOOD.forecast})
    result = matrix(inputs, waived)
    assert result["reasons"] == []
    assert result["gates"][3]["details"]["forecast"] == "not_required_by_policy"


def test_janus_evidence_is_required_when_the_policy_says_so() -> None:
    assert "janus_q_evidence_missing" in reasons(GOOD, GatePolicy(gate3_require_forecast_metrics=True))


def test_shadow_needs_no_profitability_evidence() -> None:
    result = matrix(replace(GOOD, target="shadow", profitability={}))
    assert result["promotion_allowed"] and result["recommended_mode"] == "shadow"


@pytest.mark.parametrize(("policy_on", "token", "switch"), list(itertools.product([False, True], repeat=3)))
def test_live_needs_the_policy_and_a_token_and_the_switch(policy_on: bool, token: bool, switch: bool) -> None:
    policy = GatePolicy(gate5_live_enabled=policy_on, gate6_require_janus_evidence=False)
    result = matrix(replace(GOOD, target="live", approval_token_present=token, live_switch_on=switch), policy)
    live = policy_on and token and switch
    assert result["promotion_allowed"] is live
    assert result["recommended_mode"] == ("live" if live else "paper")
    gate5 = next(g for g in result["gates"] if g["gate_id"] == "gate5_live_ramp_readiness")
    expected = ([] if policy_on else ["live_rollout_disabled_by_policy"]) + (
        [] if token else ["approval_token_missing"]) + ([] if switch else ["live_promotion_switch_off"])
    assert gate5["reasons"] == expected


@pytest.mark.parametrize(("changes", "action"), [
    ({}, "pass"), ({"coverage_error": 0.04}, "degrade"), ({"avg_interval_width": 1.5}, "degrade"),
    ({"shift_score": 0.7}, "degrade"), ({"coverage_error": 0.09}, "abstain"), ({"shift_score": 0.85}, "abstain"),
    ({"avg_interval_width": 2.0}, "abstain"), ({"shift_score": 0.96}, "fail"), ({"target_coverage": 0.8}, "abstain"),
    ({"observed_coverage": 1.5}, "abstain"), ({"coverage_error": None}, "abstain"),
])
def test_the_uncertainty_ladder(changes: dict[str, Any], action: str) -> None:
    assert uncertainty_action({**CALIBRATION, **changes}, POLICY)[0] == action


def test_gate7_abstaining_holds_the_candidate_in_shadow_even_if_the_rest_passes() -> None:
    result = matrix(replace(GOOD, profitability=_evidence("confidence_calibration", coverage_error=0.09)))
    assert result["recommended_mode"] == "shadow" and not result["promotion_allowed"]
    assert result["uncertainty_gate_action"] == "abstain"
