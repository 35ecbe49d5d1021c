"""The backtest's artifact bodies: walk-forward results and the evaluation reports."""

from __future__ import annotations

from typing import Any

from .backtest.walkforward import TRIGGER_FIELDS, WalkForwardRun
from .canonical import plain
from .config import Candidate

FEATURE_SPEC = "torghut_strategies.frame.scan (torghut.ta.signals.v1)"


def walkforward_results(run: WalkForwardRun, *, parent: str, generated_at: str) -> dict[str, Any]:
    return {
        "schema_version": "torghut-walkforward-results-v1", "generated_at": generated_at, "feature_spec": FEATURE_SPEC,
        "chain": {"parent": "research/candidate-spec.json", "parent_sha256": parent},
        "bars_per_year": run.bars_per_year,
        "folds": run.fold_reports,
        "variants": [{"index": i, "trigger_count": len(v.triggers), "suppressed_by_reason": v.suppressed,
                      "strategies": [s.model_dump(mode="json") for s in v.book.strategies]}
                     for i, v in enumerate(run.variants)],
        "selected_variant": run.selected,
        "triggers": [dict(zip(TRIGGER_FIELDS, t, strict=True)) for t in run.variants[run.selected].triggers],
    }


def evaluation_report(run: WalkForwardRun, candidate: Candidate, *, run_id: str, parent: str, generated_at: str,
                      signal_origin: str, code_version: str, strategy_config_path: str) -> dict[str, Any]:
    folds = run.fold_reports
    first, last = run.folds[0], run.folds[-1]
    return {
        "report_version": "v3", "generated_at": generated_at, "run_id": run_id,
        "chain": {"parent": "backtest/walkforward-results.json", "parent_sha256": parent},
        "config": {"evaluation_start": first.as_json()["test_start"], "evaluation_end": last.as_json()["test_end"],
                   "signal_source": signal_origin, "strategy_config_path": strategy_config_path,
                   "walk_forward": candidate.settings.walk_forward.model_dump(mode="json"),
                   "portfolio": candidate.settings.portfolio.model_dump(mode="json"),
                   "cost_model": candidate.settings.costs.model_dump(mode="json"),
                   "stress_cases": [c.model_dump(mode="json") for c in candidate.settings.stress],
                   "variant_count": len(run.variants)},
        "versions": {"code_version": code_version},
        "metrics": run.aggregate,
        "robustness": {**run.robustness, "folds": [
            {"fold_name": f["fold"]["name"], **{k: f["test"][k] for k in (
                "decision_count", "trade_count", "net_pnl", "return", "sharpe", "max_drawdown", "turnover_ratio",
                "cost_bps")}, "regime_label": f["regime"]["label"], "regime": f["regime"]} for f in folds]},
        "multiple_testing": {"method": "deflated_sharpe_ratio", **run.deflated},
        "stress": run.stress,
        "suppressed_by_reason": run.variants[run.selected].suppressed,
        "in_sample": {"folds": [{"fold_name": f["fold"]["name"], "train": f["train"]} for f in folds]},
    }


def baseline_report(run: WalkForwardRun, *, run_id: str, generated_at: str) -> dict[str, Any]:
    return plain({
        "report_version": "v3", "generated_at": generated_at, "run_id": f"{run_id}-baseline",
        "strategy_config_path": "baseline:reference_book", "metrics": run.baseline_aggregate,
        "folds": [{"fold_name": f.name, **m} for f, m in zip(run.folds, run.baseline_folds, strict=True)],
        "strategies": [s.model_dump(mode="json") for s in run.baseline.book.strategies],
    })
