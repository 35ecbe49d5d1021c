"""Gates 6 and 7, and the matrix's decision: which mode the candidate may be promoted to.

Decision rule (upstream's, research-lane.md §2.4): gate 7 abstaining or failing holds the
candidate in shadow; otherwise a shadow target needs gates 0-4, 6 and 7, a paper target all of
them, and a live target all of them and gate 5.
"""

from __future__ import annotations

from typing import Any

from ..policy import GatePolicy
from .matrix import ORDER, GateInputs, GateResult, _at_least, _at_most, gate0, gate1, gate2, gate3, gate4, gate5

REQUIRED = ("gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity",
            "gate3_shadow_paper_quality", "gate4_operational_readiness", "gate6_profitability_evidence",
            "gate7_uncertainty_calibration")


def profitability_required(target: str, policy: GatePolicy) -> bool:
    return target != "shadow" and policy.gate6_require_profitability_evidence


def gate6(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    result = GateResult("gate6_profitability_evidence")
    if not profitability_required(inputs.target, policy):
        result.details["skipped"] = "not_required_for_target_or_policy"
        return result
    evidence = inputs.profitability
    if not evidence:
        result.reasons.append("profitability_evidence_missing")
        return result
    if evidence.get("schema_version") != "profitability-evidence-v4":
        result.reasons.append("profitability_evidence_schema_invalid")
    if (evidence.get("benchmark") or {}).get("schema_version") != "profitability-benchmark-v4":
        result.reasons.append("profitability_benchmark_schema_invalid")
    if not (evidence.get("validation") or {}).get("passed"):
        result.reasons.append("profitability_evidence_validation_failed")
    risk = evidence.get("risk_adjusted_metrics", {})
    _at_least(result, "market_net_pnl_delta", risk.get("market_net_pnl_delta"), policy.gate6_min_market_net_pnl_delta,
              "profitability_market_net_pnl_delta_below_threshold", "profitability_market_net_pnl_delta_missing")
    _at_least(result, "regime_slice_pass_ratio", risk.get("regime_slice_pass_ratio"),
              policy.gate6_min_regime_slice_pass_ratio, "profitability_regime_slice_ratio_below_threshold",
              "profitability_regime_slice_ratio_missing")
    _at_least(result, "return_over_drawdown", risk.get("return_over_drawdown"), policy.gate6_min_return_over_drawdown,
              "profitability_return_over_drawdown_below_threshold", "profitability_return_over_drawdown_missing")
    _at_most(result, "cost_bps", evidence.get("cost_fill_realism", {}).get("cost_bps"), policy.gate6_max_cost_bps,
             "profitability_cost_bps_exceeds_threshold", "profitability_cost_bps_missing")
    error = evidence.get("confidence_calibration", {}).get("calibration_error")
    _at_most(result, "calibration_error", 1.0 if error is None else error, policy.gate6_max_calibration_error,
             "profitability_calibration_error_exceeds_threshold")
    hashes = evidence.get("reproducibility", {}).get("artifact_hashes", {})
    _at_least(result, "reproducibility_hashes", len(hashes), policy.gate6_min_reproducibility_hashes,
              "profitability_reproducibility_hashes_below_threshold")
    janus = evidence.get("janus_q")
    result.details["janus_q"] = janus
    if policy.gate6_require_janus_evidence:
        result.reasons += janus_reasons(janus, policy)
    result.artifact_refs = sorted(evidence.get("artifact_refs", []))
    return result


def janus_reasons(janus: dict[str, Any] | None, policy: GatePolicy) -> list[str]:
    """gate6's Janus-Q checks (research-lane.md §5.5): a wrong summary schema stops the rest."""
    if not janus:
        return ["janus_q_evidence_missing"]
    if janus.get("schema_version") != "janus-q-evidence-v1":
        return ["janus_q_evidence_schema_invalid"]
    reasons = [] if janus.get("evidence_complete") else ["janus_q_evidence_incomplete"]
    for part, schema, key, minimum, name in (
            ("event_car", "janus-event-car-v1", "event_count", policy.gate6_min_janus_event_count, "janus_event_car"),
            ("hgrm_reward", "janus-hgrm-reward-v1", "reward_count", policy.gate6_min_janus_reward_count,
             "janus_hgrm_reward")):
        body = janus.get(part) or {}
        if body.get("schema_version") != schema:
            reasons.append(f"{name}_schema_invalid")
        elif not isinstance(body.get(key), int) or body[key] < minimum:
            reasons.append(f"{name}_count_below_threshold")
    return reasons


def uncertainty_action(calibration: dict[str, Any], policy: GatePolicy) -> tuple[str, list[str]]:
    """Upstream's gate 7 ladder over the measured calibration: pass, degrade, abstain or fail."""
    keys = ("coverage_error", "shift_score", "avg_interval_width", "target_coverage", "observed_coverage")
    if any(calibration.get(key) is None for key in keys):
        return "abstain", ["uncertainty_inputs_missing_or_invalid"]
    values: dict[str, float] = {key: float(calibration[key]) for key in keys}
    coverage_error, shift, width = values["coverage_error"], values["shift_score"], values["avg_interval_width"]
    if coverage_error < 0 or not 0 <= shift <= 1 or width < 0 or not 0 <= values["observed_coverage"] <= 1:
        return "abstain", ["uncertainty_inputs_out_of_range"]
    if abs(values["target_coverage"] - policy.gate7_target_coverage) > 1e-9:
        return "abstain", ["uncertainty_target_coverage_mismatch"]
    if shift >= policy.gate7_shift_score_fail:
        return "fail", ["regime_shift_score_fail_threshold_exceeded"]
    if (coverage_error > policy.gate7_max_coverage_error_abstain or shift >= policy.gate7_shift_score_abstain
            or width > policy.gate7_max_interval_width_degrade):
        return "abstain", ["uncertainty_abstain_threshold_exceeded"]
    if (coverage_error > policy.gate7_max_coverage_error_degrade or shift >= policy.gate7_shift_score_degrade
            or width > policy.gate7_max_interval_width_pass):
        return "degrade", ["uncertainty_degrade_threshold_exceeded"]
    if coverage_error > policy.gate7_max_coverage_error_pass:
        return "degrade", ["coverage_error_slo_exceeded"]
    return "pass", []


def gate7(inputs: GateInputs, policy: GatePolicy, *, recalibration_ref: str | None) -> GateResult:
    result = GateResult("gate7_uncertainty_calibration")
    calibration = inputs.profitability.get("confidence_calibration", {})
    action, reasons = uncertainty_action(calibration, policy)
    result.details.update(action=action, **{k: calibration.get(k) for k in (
        "coverage_error", "shift_score", "avg_interval_width", "observed_coverage", "target_coverage")})
    if not profitability_required(inputs.target, policy):
        result.details["skipped"] = "not_required_for_target_or_policy"
        return result
    if action != "pass":
        reasons = [*reasons, f"uncertainty_gate_action_{action}"]
        if recalibration_ref is None:
            reasons += ["recalibration_artifact_missing", "recalibration_run_id_missing"]
    result.reasons = sorted(set(reasons))
    if recalibration_ref:
        result.artifact_refs = [recalibration_ref]
    return result


def evaluate_matrix(inputs: GateInputs, policy: GatePolicy, *, recalibration_ref: str | None,
                    evaluated_at: str, code_version: str) -> dict[str, Any]:
    results = {r.gate_id: r for r in (
        gate0(inputs, policy), gate1(inputs, policy), gate2(inputs, policy), gate3(inputs, policy), gate4(inputs),
        gate5(inputs, policy), gate6(inputs, policy), gate7(inputs, policy, recalibration_ref=recalibration_ref))}
    action = results["gate7_uncertainty_calibration"].details["action"]
    required_pass = all(results[g].passed for g in REQUIRED)
    gate7_blocks = action in ("abstain", "fail") and profitability_required(inputs.target, policy)
    if gate7_blocks:
        allowed, mode = False, "shadow"
    elif inputs.target == "shadow":
        allowed, mode = required_pass, "shadow"
    elif inputs.target == "paper":
        allowed, mode = required_pass, "paper" if required_pass else "shadow"
    else:
        allowed = required_pass and results["gate5_live_ramp_readiness"].passed
        mode = "live" if allowed else "paper" if required_pass else "shadow"
    ordered = [results[g] for g in ORDER]
    return {
        "policy_version": policy.policy_version, "promotion_target": inputs.target, "promotion_allowed": allowed,
        "recommended_mode": mode, "gates": [r.as_json() for r in ordered],
        "reasons": [reason for r in ordered for reason in r.reasons],
        "uncertainty_gate_action": action,
        "coverage_error": results["gate7_uncertainty_calibration"].details.get("coverage_error"),
        "shift_score": results["gate7_uncertainty_calibration"].details.get("shift_score"),
        "evaluated_at": evaluated_at, "code_version": code_version,
    }
