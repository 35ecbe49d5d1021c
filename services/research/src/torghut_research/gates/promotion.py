"""Promotion prerequisites, rollback readiness and the final recommendation (research-lane.md §2.5-2.8).

Upstream's lane attested its own rollback readiness (dry runs passed, a human approved); here it
comes only from the evidence file, and a missing check fails closed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ..canonical import hash_of
from ..policy import Evidence, GatePolicy, age_hours
from .decision import profitability_required
from .matrix import MODES

PATCH_ARTIFACT = "paper-candidate/strategy-patch.yaml"


def candidate_state(run_id: str, candidate_id: str, evidence: Evidence) -> dict[str, Any]:
    """The guard's state for this candidate (research-lane.md §3.5), rollback readiness from evidence only."""
    return {"candidateId": candidate_id, "runId": run_id, "activeStage": "gate-evaluation", "paused": False,
            "failureCounts": {}, "datasetSnapshotRef": "signals_window", "noSignalReason": None,
            "rollbackReadiness": evidence.rollback.model_dump(mode="json")}


def promotion_prerequisites(policy: GatePolicy, gate_report: dict[str, Any], state: dict[str, Any], target: str,
                            artifact_root: Path) -> dict[str, Any]:
    details: list[dict[str, Any]] = []

    def fail(reason: str, **detail: Any) -> None:
        details.append({"reason": reason, **detail})

    required = set(policy.promotion_required_artifacts)
    if target in policy.promotion_require_patch_targets:
        required.add(PATCH_ARTIFACT)
    needs_profitability = profitability_required(target, policy) and target in (
        policy.promotion_profitability_required_targets)
    if needs_profitability:
        required |= set(policy.promotion_profitability_required_artifacts)
    needs_janus = janus_required(target, policy)
    if needs_janus:
        required |= set(policy.promotion_janus_required_artifacts)
    missing = sorted(p for p in required if not (artifact_root / p).is_file())
    if missing:
        fail("required_artifacts_missing", artifacts=missing)
    if state.get("paused"):
        fail("candidate_paused_for_review")
    if not gate_report["promotion_allowed"]:
        fail("gate_report_not_promotable")
    if MODES[gate_report["recommended_mode"]] < MODES[target]:
        fail("gate_recommended_mode_below_target", recommended=gate_report["recommended_mode"], target=target)
    gates = {g["gate_id"]: g for g in gate_report["gates"]}
    checked = ["gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity"]
    if target != "shadow":
        checked.append("gate7_uncertainty_calibration")
    for gate_id in checked:
        if gates[gate_id]["status"] != "pass":
            fail(f"{gate_id.split('_')[0]}_not_passed")
    if target != "shadow":
        if gate_report["uncertainty_gate_action"] != "pass":
            fail("uncertainty_gate_not_pass", action=gate_report["uncertainty_gate_action"])
        coverage_error = gate_report.get("coverage_error")
        coverage_error = 1.0 if coverage_error is None else coverage_error
        if coverage_error > policy.promotion_uncertainty_max_coverage_error:
            fail("uncertainty_calibration_slo_failed", actual=coverage_error,
                 maximum=policy.promotion_uncertainty_max_coverage_error)
    throughput = gate_report["throughput"]
    if throughput["no_signal_window"]:
        fail("no_signal_window_detected")
    for name, minimum in (("signal_count", policy.promotion_min_signal_count),
                          ("decision_count", policy.promotion_min_decision_count),
                          ("trade_count", policy.promotion_min_trade_count)):
        if throughput[name] < minimum:
            fail(f"{name}_below_minimum_for_progression", actual=throughput[name], minimum=minimum)
    if state.get("runId") != gate_report["run_id"]:
        fail("run_id_mismatch_between_state_and_gate_report")
    if needs_profitability:
        _profitability_checks(policy, artifact_root, fail)
    if needs_janus:
        _janus_checks(policy, gate_report, artifact_root, fail)
    if target != "shadow":
        evidence = gate_report["promotion_evidence"]
        if evidence["fold_metrics"]["count"] < policy.promotion_min_fold_metrics_count:
            fail("fold_metrics_evidence_insufficient", actual=evidence["fold_metrics"]["count"])
        if evidence["stress_metrics"]["count"] < policy.promotion_min_stress_case_count:
            fail("stress_metrics_evidence_insufficient", actual=evidence["stress_metrics"]["count"],
                 minimum=policy.promotion_min_stress_case_count)
        rationale = evidence["promotion_rationale"]
        if policy.promotion_require_rationale and not rationale.get("rationale_text"):
            fail("promotion_rationale_missing")
        if rationale.get("requested_target") != target:
            fail("promotion_rationale_target_mismatch")
        if rationale.get("gate_recommended_mode") != gate_report["recommended_mode"]:
            fail("promotion_rationale_recommended_mode_mismatch")
    return {"allowed": not details, "reasons": sorted({d["reason"] for d in details}), "reason_details": details,
            "required_artifacts": sorted(required), "missing_artifacts": missing,
            "required_throughput": {"min_signal_count": policy.promotion_min_signal_count,
                                    "min_decision_count": policy.promotion_min_decision_count,
                                    "min_trade_count": policy.promotion_min_trade_count},
            "observed_throughput": throughput}


def _profitability_checks(policy: GatePolicy, root: Path, fail: Any) -> None:
    import json

    validation_path = root / "gates/profitability-evidence-validation.json"
    benchmark_path = root / "gates/profitability-benchmark-v4.json"
    if not validation_path.is_file():
        fail("profitability_evidence_validation_missing")
    elif not json.loads(validation_path.read_text()).get("passed"):
        fail("profitability_evidence_validation_failed")
    if not benchmark_path.is_file():
        fail("profitability_benchmark_missing")
    else:
        slices = json.loads(benchmark_path.read_text()).get("slices", [])
        regimes = sum(1 for s in slices if s.get("slice_type") == "regime")
        if regimes < policy.promotion_profitability_min_regime_slices:
            fail("profitability_benchmark_regime_coverage_insufficient", actual=regimes,
                 minimum=policy.promotion_profitability_min_regime_slices)


def janus_required(target: str, policy: GatePolicy) -> bool:
    """Janus-Q evidence gates promotion to ``target`` (research-lane.md §5.5)."""
    return (profitability_required(target, policy) and policy.gate6_require_janus_evidence
            and target in policy.promotion_janus_required_targets)


def _janus_checks(policy: GatePolicy, gate_report: dict[str, Any], root: Path, fail: Any) -> None:
    """Each Janus artifact re-read and re-hashed against the gate report's reference; then the report's evidence."""
    import json

    from ..janus.evidence import HASH_MISMATCH, hash_mismatches

    reference = (gate_report.get("promotion_evidence") or {}).get("janus_q")
    minimums = {"event_car": max(1, policy.promotion_min_janus_event_count),
                "hgrm_reward": max(1, policy.promotion_min_janus_reward_count)}
    for kind, path, schema, key, items in (
            ("event_car", policy.promotion_janus_event_car_artifact, "janus-event-car-v1", "event_count", "records"),
            ("hgrm_reward", policy.promotion_janus_hgrm_reward_artifact, "janus-hgrm-reward-v1", "reward_count",
             "rewards")):
        name = f"janus_{kind}"
        if not (root / path).is_file():
            fail(f"{name}_artifact_missing", artifact=path)
            continue
        data = (root / path).read_bytes()
        try:
            body = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("schema_version") != schema:
            fail(f"{name}_schema_invalid", artifact=path, expected=schema)
            continue
        summary = body.get("summary")
        count = summary.get(key) if isinstance(summary, dict) else None
        if not isinstance(count, int):
            listed = body.get(items)
            count = len(listed) if isinstance(listed, list) else 0
        if count < minimums[kind]:
            fail(f"{name}_count_below_minimum", actual=count, minimum=minimums[kind])
        mismatches = hash_mismatches(kind, data, body, (reference or {}).get(kind))
        if mismatches:
            fail(HASH_MISMATCH, artifact=path, checks=mismatches)
    if not policy.promotion_require_janus_evidence:
        return
    if not reference:
        fail("janus_q_evidence_missing")
        return
    for kind in ("event_car", "hgrm_reward"):
        count = (reference.get(kind) or {}).get("count")
        if not isinstance(count, int) or count < minimums[kind]:
            fail(f"janus_{kind}_evidence_insufficient", actual=count, minimum=minimums[kind])
    if not reference.get("evidence_complete"):
        fail("janus_q_evidence_incomplete", reasons=reference.get("reasons"))


def rollback_readiness(policy: GatePolicy, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    readiness = state.get("rollbackReadiness") or {}
    reasons = []
    missing = [check for check in policy.rollback_required_checks if readiness.get(check) is not True]
    if missing:
        reasons.append("rollback_checks_missing_or_failed")
    completed = readiness.get("dryRunCompletedAt")
    if not completed:
        reasons.append("rollback_dry_run_timestamp_missing")
    elif age_hours(datetime.fromisoformat(completed), now) > policy.rollback_dry_run_max_age_hours:
        reasons.append("rollback_dry_run_stale")
    if policy.rollback_require_human_approval and readiness.get("humanApproved") is not True:
        reasons.append("rollback_human_approval_missing")
    if not readiness.get("rollbackTarget"):
        reasons.append("rollback_target_missing")
    return {"ready": not reasons, "reasons": reasons, "required_checks": list(policy.rollback_required_checks),
            "missing_checks": missing}


def recommendation(*, run_id: str, candidate_id: str, target: str, gate_report: dict[str, Any],
                   prerequisites: dict[str, Any], rollback: dict[str, Any]) -> dict[str, Any]:
    evidence = gate_report["promotion_evidence"]
    folds, stress = evidence["fold_metrics"]["count"], evidence["stress_metrics"]["count"]
    rationale = evidence["promotion_rationale"]["rationale_text"]
    evidence_reasons = ([] if folds > 0 else ["fold_metrics_missing"]) + (
        [] if stress > 0 else ["stress_metrics_missing"]) + ([] if rationale else ["promotion_rationale_missing"])
    eligible = (gate_report["promotion_allowed"] and prerequisites["allowed"] and rollback["ready"]
                and not evidence_reasons)
    mode = gate_report["recommended_mode"]
    action = "promote" if eligible and mode in ("paper", "live") else "deny" if not eligible else "hold"
    reasons = sorted(set(gate_report["reasons"]) | set(prerequisites["reasons"]) | set(rollback["reasons"])
                     | set(evidence_reasons))
    body = {"run_id": run_id, "candidate_id": candidate_id, "requested_mode": target, "recommended_mode": mode,
            "eligible": eligible, "action": action, "rationale": rationale, "reasons": reasons,
            "evidence": {"fold_metrics_count": folds, "stress_metrics_count": stress,
                         "rationale_present": bool(rationale), "evidence_complete": not evidence_reasons,
                         "reasons": evidence_reasons}}
    return {**body, "trace_id": hash_of(body)[:24]}
