"""``run_lane``: signals -> walk-forward -> gates -> (maybe) a paper patch, all from one ``evaluated_at``.

Every input is read and validated before anything is written; the artifacts are built in a staging
directory and swapped in whole (:mod:`.artifacts`). The hash chain runs dataset -> candidate spec
-> walk-forward results -> evaluation report -> gate evaluation -> patch: each file carries the
SHA-256 of the one before it, and ``manifest.json`` lists them all.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from torghut_contracts import topics
from torghut_strategies.book import StrategyBook

from . import measurements, patch
from .artifacts import RunDirectory
from .backtest.walkforward import WalkForwardRun, walk_forward
from .canonical import hash_of, plain, sha256
from .config import Candidate, load_candidate
from .gates.decision import evaluate_matrix
from .gates.matrix import GateInputs
from .gates.profitability import build_benchmark, build_evidence, validate_evidence
from .gates.promotion import (
    PATCH_ARTIFACT,
    candidate_state,
    promotion_prerequisites,
    recommendation,
    rollback_readiness,
)
from .janus import events as janus_events
from .janus import hgrm
from .janus.evidence import evidence_summary as janus_evidence_summary
from .janus.evidence import promotion_evidence as janus_promotion_evidence
from .live_switch import live_switch_on
from .payloads import baseline_report, evaluation_report, walkforward_results
from .policy import Evidence, GatePolicy, load_evidence, load_policy
from .signals import SignalSet
from .sources import load_signals

HELM_ARTIFACT = "paper-candidate/helm-values.yaml"
TARGETS = ("shadow", "paper", "live")


@dataclass(frozen=True)
class LaneInputs:
    signals: SignalSet
    candidate: Candidate
    baseline: StrategyBook
    policy: GatePolicy
    evidence: Evidence
    hashes: dict[str, str]
    strategy_config_path: str
    target: str
    approval_token: str | None
    live_switch_on: bool
    evaluated_at: datetime


def read_inputs(*, signals: str, strategy_config: Path, gate_policy: Path, evidence: Path | None,
                baseline_config: Path | None, target: str, approval_token: str | None,
                evaluated_at: datetime | None) -> LaneInputs:
    """Everything the lane needs, validated; raises InputError before a single file is written."""
    from torghut_strategies.book_file import reference_book

    candidate = load_candidate(strategy_config)
    policy, policy_bytes = load_policy(gate_policy)
    attested, evidence_bytes = load_evidence(evidence)
    baseline = load_candidate(baseline_config).book if baseline_config else reference_book()
    signal_set = load_signals(signals)
    hashes = {"signals": signal_set.dataset_hash, "strategy_config": sha256(strategy_config.read_bytes()),
              "gate_policy": sha256(policy_bytes)}
    if evidence_bytes is not None:
        hashes["evidence"] = sha256(evidence_bytes)
    last_event = datetime.fromisoformat(signal_set.columns.signal_at(int(signal_set.columns.event_ns.argmax()))
                                        .event_ts.isoformat())
    return LaneInputs(signal_set, candidate, baseline, policy, attested, hashes, str(strategy_config), target,
                      approval_token, live_switch_on(),
                      evaluated_at or last_event)


def code_version() -> str:
    if version := os.environ.get("TORGHUT_CODE_VERSION"):
        return version
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_lane(inputs: LaneInputs, output_dir: Path, *, version: str | None = None) -> dict[str, Any]:
    version = version or code_version()
    at = plain(inputs.evaluated_at)
    run_id = hash_of({**inputs.hashes, "target": inputs.target, "evaluated_at": at})[:24]
    candidate_id = f"cand-{run_id[:12]}"
    policy = inputs.policy
    with RunDirectory(output_dir) as out:
        run = walk_forward(inputs.signals, inputs.candidate, inputs.baseline,
                           target_coverage=policy.gate7_target_coverage)
        selected = run.variants[run.selected].book
        spec = {"run_id": run_id, "candidate_id": candidate_id, "promotion_target": inputs.target,
                "evaluated_at": at, "chain": {"parent": "dataset", "parent_sha256": inputs.hashes["signals"]},
                "inputs": inputs.hashes, "signal_source": inputs.signals.origin,
                "signal_count": len(inputs.signals), "symbols": inputs.signals.symbols,
                "bounded_llm": {"enabled": False, "actuation_allowed": False,
                                "notes": "LLM advisory only; the deterministic risk firewall is the final authority"},
                "candidate_spec": {"runtime_strategies": selected.model_dump(mode="json")["strategies"],
                                   "variant_count": len(run.variants), "selected_variant": run.selected},
                "candidate_hash": hash_of({"inputs": inputs.hashes, "book": selected.model_dump(mode="json")})[:32]}
        spec_hash = out.write_json("research/candidate-spec.json", spec)
        results_hash = out.write_json("backtest/walkforward-results.json",
                                      walkforward_results(run, parent=spec_hash, generated_at=at))
        report_hash = out.write_json("backtest/evaluation-report.json", evaluation_report(
            run, inputs.candidate, run_id=run_id, parent=results_hash, generated_at=at,
            signal_origin=inputs.signals.origin, code_version=version,
            strategy_config_path=inputs.strategy_config_path))
        baseline_hash = out.write_json("backtest/baseline-evaluation-report.json",
                                       baseline_report(run, run_id=run_id, generated_at=at))
        gate_report = _gates(inputs, run, out, run_id=run_id, candidate_id=candidate_id, at=at,
                                                version=version, report_hash=report_hash,
                                                results_hash=results_hash, baseline_hash=baseline_hash)
        # Provisional copies, so the prerequisites can see them; both are rewritten once the decision is final.
        out.write_json("gates/gate-evaluation.json", gate_report)
        if gate_report["promotion_allowed"] and gate_report["recommended_mode"] == "paper":
            out.write_text(PATCH_ARTIFACT, "# provisional: replaced once the gate report is final\n")
        state = candidate_state(run_id, candidate_id, inputs.evidence)
        prerequisites = promotion_prerequisites(policy, gate_report, state, inputs.target, out.root)
        rollback = rollback_readiness(policy, state, inputs.evaluated_at)
        decision = recommendation(run_id=run_id, candidate_id=candidate_id, target=inputs.target,
                                  gate_report=gate_report, prerequisites=prerequisites, rollback=rollback)
        out.write_json("gates/promotion-prerequisites.json", prerequisites)
        out.write_json("gates/rollback-readiness.json", rollback)
        writes_patch = decision["action"] == "promote" and decision["recommended_mode"] == "paper"
        if not writes_patch:
            out.remove(PATCH_ARTIFACT)  # a denied run leaves no patch behind
        gate_report["promotion_recommendation"] = decision
        gate_report["promotion_decision"] = {
            "candidate_id": candidate_id, "promotion_target": inputs.target,
            "recommended_mode": decision["recommended_mode"], "promotion_allowed": decision["action"] == "promote",
            "reason_codes": decision["reasons"],
            "promotion_gate_artifact": "gates/promotion-evidence-gate.json",
            "paper_patch": PATCH_ARTIFACT if writes_patch else None}
        gates_hash = out.write_json("gates/gate-evaluation.json", gate_report)
        out.write_json("gates/promotion-evidence-gate.json", {
            "allowed": decision["eligible"], "recommended_mode": decision["recommended_mode"],
            "reasons": decision["reasons"], "recommendation": decision,
            "checks": {"gate_matrix": {"allowed": gate_report["promotion_allowed"], "reasons": gate_report["reasons"]},
                       "promotion_prerequisites": prerequisites, "rollback_readiness": rollback,
                       "janus_q": gate_report["promotion_evidence"]["janus_q"]},
            "artifact_refs": sorted(out.hashes)})
        if writes_patch:
            out.write_text(PATCH_ARTIFACT, patch.strategy_patch(selected, candidate_id=candidate_id, run_id=run_id,
                                                                gate_report_hash=gates_hash))
            out.write_text(HELM_ARTIFACT, patch.helm_values(selected, candidate_id=candidate_id))
        from .report.html import write_report

        write_report(out, run, gate_report, spec)
        chain = [("dataset", inputs.hashes["signals"]), ("research/candidate-spec.json", spec_hash),
                 ("backtest/walkforward-results.json", results_hash),
                 ("backtest/evaluation-report.json", report_hash), ("gates/gate-evaluation.json", gates_hash)]
        if writes_patch:
            chain.append((PATCH_ARTIFACT, out.hashes[PATCH_ARTIFACT]))
        manifest = {"schema_version": "torghut-research-manifest-v1", "run_id": run_id, "candidate_id": candidate_id,
                    "evaluated_at": at, "code_version": version, "inputs": inputs.hashes,
                    "chain": [{"artifact": name, "sha256": digest} for name, digest in chain],
                    "files": dict(sorted(out.hashes.items()))}
        manifest_hash = out.write_json("manifest.json", manifest)
        out.commit()
    final = output_dir.resolve()
    return {"run_id": run_id, "candidate_id": candidate_id, "output_dir": str(final),
            "promotion_target": inputs.target, "recommended_mode": decision["recommended_mode"],
            "action": decision["action"], "reasons": decision["reasons"],
            "gate_report_path": str(final / "gates/gate-evaluation.json"),
            "paper_patch_path": str(final / PATCH_ARTIFACT) if writes_patch else None,
            "report_path": str(final / "report.html"), "manifest_sha256": manifest_hash,
            "recommendation_trace_id": decision["trace_id"]}


def _gates(inputs: LaneInputs, run: WalkForwardRun, out: RunDirectory, *, run_id: str, candidate_id: str, at: str,
           version: str, report_hash: str, results_hash: str, baseline_hash: str) -> dict[str, Any]:
    from .gates.decision import uncertainty_action

    policy = inputs.policy
    benchmark = build_benchmark(run, candidate_id=candidate_id, executed_at=at)
    out.write_json("gates/profitability-benchmark-v4.json", benchmark)
    action, _ = uncertainty_action(run.calibration, policy)
    recalibration_ref = "gates/recalibration-report.json"
    janus_q, janus_hashes = _janus(inputs, run, out, run_id=run_id, candidate_id=candidate_id, at=at,
                                   results_hash=results_hash)
    evidence = build_evidence(
        run, benchmark, run_id=run_id, candidate_id=candidate_id, generated_at=at,
        artifact_hashes={**inputs.hashes, "walkforward_results": results_hash, "candidate_report": report_hash,
                         "baseline_report": baseline_hash, **janus_hashes},
        calibration={**run.calibration, "gate_action": action},
        artifact_refs=["backtest/evaluation-report.json", "backtest/baseline-evaluation-report.json",
                       janus_q["event_car"]["artifact_ref"], janus_q["hgrm_reward"]["artifact_ref"]])
    evidence["janus_q"] = janus_q
    validation = validate_evidence(evidence, policy, checked_at=at)
    evidence["validation"] = {"passed": validation["passed"], "reasons": validation["reasons"]}
    out.write_json("gates/profitability-evidence-v4.json", evidence)
    out.write_json("gates/profitability-evidence-validation.json", validation)
    out.write_json(recalibration_ref, {
        "schema_version": "recalibration_report_v1", "run_id": run_id, "candidate_id": candidate_id,
        "requested_at": at, "status": "not_required" if action == "pass" else "queued",
        "recalibration_run_id": None if action == "pass" else f"recal-{run_id[:12]}",
        "uncertainty_gate_action": action, "coverage_error": run.calibration.get("coverage_error"),
        "shift_score": run.calibration.get("shift_score"),
        "artifact_refs": ["gates/profitability-evidence-v4.json", "gates/profitability-evidence-validation.json"]})
    score, state = measurements.fragility(run.stress)
    nulls = measurements.null_rates(inputs.signals)
    gate_inputs = GateInputs(
        target=inputs.target, feature_schema_version=topics.TA_SIGNALS.name, null_rate=nulls["after_warm_up"],
        staleness_ms_p95=measurements.staleness(inputs.signals, inputs.evidence),
        symbol_coverage=len(inputs.signals.symbols), metrics=run.aggregate, robustness=run.robustness,
        deflated_sharpe=run.deflated["deflated_sharpe"], fragility_score=score, fragility_state=state,
        stability_mode_active=measurements.from_evidence(inputs.evidence.stability_mode_active),
        tca=inputs.evidence.tca.model_dump() if inputs.evidence.tca else None,
        llm_error_ratio=measurements.llm_error_ratio(inputs.signals, inputs.evidence),
        forecast=measurements.forecast(inputs.evidence), operational=measurements.operational(inputs.evidence),
        profitability=evidence, approval_token_present=bool(inputs.approval_token),
        live_switch_on=inputs.live_switch_on)
    matrix = evaluate_matrix(gate_inputs, policy, recalibration_ref=recalibration_ref, evaluated_at=at,
                             code_version=version)
    matrix["gates"][0]["details"]["null_rates"] = nulls
    aggregate = run.aggregate
    mode, reasons = matrix["recommended_mode"], sorted(set(matrix["reasons"]))
    rationale = (f"all_required_gates_passed_for_{inputs.target}_promotion_recommended_mode_{mode}"
                 if matrix["promotion_allowed"] else f"promotion_blocked_or_held:{','.join(reasons)}")
    matrix.update(
        run_id=run_id, chain={"parent": "backtest/evaluation-report.json", "parent_sha256": report_hash},
        throughput={"signal_count": len(inputs.signals), "decision_count": aggregate["decision_count"],
                    "trade_count": aggregate["trade_count"], "no_signal_window": False, "no_signal_reason": None,
                    "fold_metrics_count": len(run.fold_reports), "stress_metrics_count": len(run.stress)},
        promotion_evidence={
            "fold_metrics": {"count": len(run.fold_reports), "artifact_ref": "backtest/evaluation-report.json"},
            "stress_metrics": {"count": len(run.stress), "artifact_ref": "backtest/evaluation-report.json",
                               "items": run.stress},
            "promotion_rationale": {"requested_target": inputs.target, "gate_recommended_mode": mode,
                                    "gate_reasons": reasons, "rationale_text": rationale},
            "janus_q": janus_promotion_evidence(janus_q)},
        provenance={"gate_report_trace_id": hash_of(matrix)[:24],
                    "profitability_evidence_artifact": "gates/profitability-evidence-v4.json",
                    "profitability_benchmark_artifact": "gates/profitability-benchmark-v4.json",
                    "profitability_validation_artifact": "gates/profitability-evidence-validation.json",
                    "recalibration_artifact": recalibration_ref,
                    "janus_event_car_artifact": janus_q["event_car"]["artifact_ref"],
                    "janus_hgrm_reward_artifact": janus_q["hgrm_reward"]["artifact_ref"],
                    "approval_token_sha256": sha256(inputs.approval_token) if inputs.approval_token else None})
    return matrix


def _janus(inputs: LaneInputs, run: WalkForwardRun, out: RunDirectory, *, run_id: str, candidate_id: str, at: str,
           results_hash: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The Janus-Q artifacts (event/CAR, HGRM reward) written, and the evidence summary over them."""
    settings = inputs.candidate.settings
    table = janus_events.compute_events(inputs.signals, settings.janus)
    decisions = hgrm.walk_forward_decisions(run, inputs.signals)
    event_car = janus_events.build_event_car_artifact(
        inputs.signals, table, run_id=run_id, generated_at=at, rows=[d.row for d in decisions if d.row < len(table)])
    event_car_hash = out.write_json(janus_events.ARTIFACT, event_car)
    reward = hgrm.build_hgrm_artifact(
        decisions, table, inputs.signals, settings.janus.hgrm, costs=settings.costs, portfolio=settings.portfolio,
        event_car=event_car, run_id=run_id, candidate_id=candidate_id, generated_at=at, parent=janus_events.ARTIFACT,
        parent_sha256=event_car_hash, decisions_sha256=results_hash)
    reward_hash = out.write_json(hgrm.ARTIFACT, reward)
    summary = janus_evidence_summary(event_car, reward, event_car_sha256=event_car_hash, reward_sha256=reward_hash)
    return summary, {"janus_event_car": event_car_hash, "janus_hgrm_reward": reward_hash}
