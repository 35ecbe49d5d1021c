"""Profitability benchmark, evidence and validation (upstream's v4 files, research-lane.md §1.6, §2.7).

The candidate is measured against a baseline book (the reference book by default) over the same
folds and costs. Unlike upstream, the figures are the walk-forward's out-of-sample ones, the
Sharpe is a real one over the folds, and the significance bootstrap resamples the per-fold P&L
deltas with a seed taken from their own hash, so it is deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..backtest.walkforward import WalkForwardRun
from ..canonical import hash_of, sha256
from ..policy import GatePolicy

BENCHMARK_SCHEMA = "profitability-benchmark-v4"
EVIDENCE_SCHEMA = "profitability-evidence-v4"
BOOTSTRAP_SAMPLES = 512
REQUIRED_HASH_KEYS = ("signals", "strategy_config", "gate_policy", "candidate_report", "baseline_report")
_SLICE_KEYS = ("net_pnl", "max_drawdown", "cost_bps", "turnover_ratio", "trade_count")


def _slice(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: metrics.get(key, 0) for key in _SLICE_KEYS}


def _deltas(candidate: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    return {f"{key}_delta": candidate[key] - baseline[key] for key in ("net_pnl", "max_drawdown", "cost_bps",
                                                                        "trade_count")}


def build_benchmark(run: WalkForwardRun, *, candidate_id: str, executed_at: str) -> dict[str, Any]:
    candidate, baseline = _slice(run.aggregate), _slice(run.baseline_aggregate)
    slices: list[dict[str, Any]] = [{"slice_key": "market:all", "slice_type": "market", "candidate_metrics": candidate,
                                     "baseline_metrics": baseline, "deltas": _deltas(candidate, baseline)}]
    by_regime: dict[str, list[int]] = defaultdict(list)
    for index, report in enumerate(run.fold_reports):
        by_regime[report["regime"]["label"]].append(index)
    for label, indexes in sorted(by_regime.items()):
        candidate = _grouped([run.fold_reports[i]["test"] for i in indexes])
        baseline = _grouped([run.baseline_folds[i] for i in indexes])
        slices.append({"slice_key": f"regime:{label}", "slice_type": "regime", "fold_count": len(indexes),
                       "candidate_metrics": candidate, "baseline_metrics": baseline,
                       "deltas": _deltas(candidate, baseline)})
    return {"schema_version": BENCHMARK_SCHEMA, "executed_at": executed_at, "candidate_id": candidate_id,
            "baseline_id": "baseline-reference-book", "required_slice_keys": [s["slice_key"] for s in slices],
            "slices": slices}


def _grouped(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Folds of one regime: P&L and trades summed, drawdown the worst, cost and turnover averaged."""
    return {"net_pnl": sum(f["net_pnl"] for f in folds), "max_drawdown": max(f["max_drawdown"] for f in folds),
            "cost_bps": float(np.mean([f["cost_bps"] for f in folds])),
            "turnover_ratio": float(np.mean([f["turnover_ratio"] for f in folds])),
            "trade_count": sum(f["trade_count"] for f in folds)}


def significance(deltas: list[float]) -> dict[str, Any]:
    """Bootstrap of the mean per-fold net P&L delta (candidate - baseline), 95% interval, two-sided p."""
    values = np.array(deltas, dtype=np.float64)
    seed = int(sha256(",".join(f"{d:.6f}" for d in deltas))[:16], 16)
    snapshot: dict[str, Any] = {"schema_version": "significance_snapshot_v1", "sample_count": len(values),
                                "bootstrap_samples": BOOTSTRAP_SAMPLES, "seed": seed}
    if not len(values):
        return {**snapshot, "net_pnl_delta_mean": None, "ci_95_low": None, "ci_95_high": None,
                "p_value_two_sided": None, "statistically_positive": False, "statistically_negative": False}
    draws = np.random.default_rng(seed).integers(0, len(values), size=(BOOTSTRAP_SAMPLES, len(values)))
    means = np.sort(values[draws].mean(axis=1))
    low, high = float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))
    p_value = min(1.0, 2 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
    return {**snapshot, "net_pnl_delta_mean": float(values.mean()), "net_pnl_delta_std": float(values.std()),
            "ci_95_low": low, "ci_95_high": high, "p_value_two_sided": p_value,
            "statistically_positive": low > 0, "statistically_negative": high < 0}


def build_evidence(run: WalkForwardRun, benchmark: dict[str, Any], *, run_id: str, candidate_id: str,
                   generated_at: str, artifact_hashes: dict[str, str], calibration: dict[str, Any],
                   artifact_refs: list[str]) -> dict[str, Any]:
    aggregate = run.aggregate
    regime_slices = [s for s in benchmark["slices"] if s["slice_type"] == "regime"]
    passing = sum(1 for s in regime_slices if s["deltas"]["net_pnl_delta"] >= 0)
    drawdown = aggregate["max_drawdown"]
    fold_deltas = [c["test"]["net_pnl"] - b["net_pnl"] for c, b in zip(run.fold_reports, run.baseline_folds,
                                                                       strict=True)]
    pairs = sorted(artifact_hashes.items())
    return {
        "schema_version": EVIDENCE_SCHEMA, "generated_at": generated_at, "run_id": run_id,
        "candidate_id": candidate_id, "baseline_id": benchmark["baseline_id"],
        "risk_adjusted_metrics": {
            "net_pnl": aggregate["net_pnl"], "max_drawdown": drawdown,
            "return_over_drawdown": aggregate["net_pnl"] / drawdown if drawdown else 0.0,
            "sharpe_like": run.robustness["fold_return_sharpe"], "sharpe": aggregate["sharpe"],
            "sortino": aggregate["sortino"], "deflated_sharpe": run.deflated["deflated_sharpe"],
            "regime_slice_pass_ratio": passing / len(regime_slices) if regime_slices else 0.0,
            "market_net_pnl_delta": benchmark["slices"][0]["deltas"]["net_pnl_delta"],
        },
        "cost_fill_realism": {
            "decision_count": aggregate["decision_count"], "trade_count": aggregate["trade_count"],
            "fill_count": aggregate["fill_count"],
            "trade_to_decision_ratio": (aggregate["trade_count"] / aggregate["decision_count"]
                                        if aggregate["decision_count"] else 0.0),
            "cost_bps": aggregate["cost_bps"], "turnover_ratio": aggregate["turnover_ratio"],
            "capacity_warnings": aggregate["capacity_warnings"],
            "fills_without_volume": aggregate["fills_without_volume"],
        },
        "confidence_calibration": calibration,
        "reproducibility": {"hash_algorithm": "sha256", "artifact_hashes": dict(pairs),
                            "manifest_hash": hash_of([list(p) for p in pairs])},
        "significance": significance(fold_deltas),
        "benchmark": {"schema_version": benchmark["schema_version"], "slice_count": len(benchmark["slices"])},
        "artifact_refs": sorted(artifact_refs),
    }


def validate_evidence(evidence: dict[str, Any], policy: GatePolicy, *, checked_at: str) -> dict[str, Any]:
    reasons: list[dict[str, Any]] = []

    def check(failed: bool, reason: str, **detail: Any) -> None:
        if failed:
            reasons.append({"reason": reason, **detail})

    risk, costs = evidence["risk_adjusted_metrics"], evidence["cost_fill_realism"]
    check(evidence.get("schema_version") != EVIDENCE_SCHEMA, "profitability_evidence_schema_invalid",
          expected=EVIDENCE_SCHEMA)
    check(evidence["benchmark"].get("schema_version") != BENCHMARK_SCHEMA, "profitability_benchmark_schema_invalid",
          expected=BENCHMARK_SCHEMA)
    check(risk["market_net_pnl_delta"] < policy.gate6_min_market_net_pnl_delta,
          "market_net_pnl_delta_below_threshold", actual=risk["market_net_pnl_delta"],
          minimum=policy.gate6_min_market_net_pnl_delta)
    check(risk["return_over_drawdown"] < policy.gate6_min_return_over_drawdown,
          "risk_adjusted_return_over_drawdown_below_threshold", actual=risk["return_over_drawdown"],
          minimum=policy.gate6_min_return_over_drawdown)
    check(risk["regime_slice_pass_ratio"] < policy.gate6_min_regime_slice_pass_ratio,
          "regime_slice_pass_ratio_below_threshold", actual=risk["regime_slice_pass_ratio"],
          minimum=policy.gate6_min_regime_slice_pass_ratio)
    check(costs["cost_bps"] > policy.gate6_max_cost_bps, "cost_bps_exceeds_threshold", actual=costs["cost_bps"],
          maximum=policy.gate6_max_cost_bps)
    error = evidence["confidence_calibration"].get("calibration_error")
    check(error is None or error > policy.gate6_max_calibration_error, "calibration_error_exceeds_threshold",
          actual=error, maximum=policy.gate6_max_calibration_error)
    hashes = evidence["reproducibility"]["artifact_hashes"]
    check(len(hashes) < policy.gate6_min_reproducibility_hashes, "reproducibility_hash_count_below_minimum",
          actual=len(hashes), minimum=policy.gate6_min_reproducibility_hashes)
    missing = sorted(set(REQUIRED_HASH_KEYS) - set(hashes))
    check(bool(missing), "reproducibility_hash_keys_missing", missing_keys=missing)
    samples = evidence["significance"]["sample_count"]
    check(samples < policy.gate6_min_significance_samples, "significance_samples_below_minimum", actual=samples,
          minimum=policy.gate6_min_significance_samples)
    return {"passed": not reasons, "reasons": sorted({r["reason"] for r in reasons}), "reason_details": reasons,
            "checked_at": checked_at, "artifact_refs": evidence["artifact_refs"],
            "thresholds": {key: value for key, value in policy.model_dump().items() if key.startswith("gate6_")}}
