"""The gate matrix, gate0-gate7, with upstream's ids and reason codes (research-lane.md §2.3-2.4).

Every gate collects every failing reason (never only the first), and reports what it measured and
where each input came from (``measured`` from the signals, ``evidence`` from the evidence file).
An input nobody measured is ``None`` and fails its gate closed with a ``*_missing`` reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..policy import GatePolicy

MODES = {"shadow": 1, "paper": 2, "live": 3}
FRAGILITY_STATES = ("normal", "elevated", "stress", "crisis")
ORDER = ("gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity",
         "gate3_shadow_paper_quality", "gate4_operational_readiness", "gate6_profitability_evidence",
         "gate7_uncertainty_calibration", "gate5_live_ramp_readiness")


@dataclass(frozen=True)
class Measured:
    """A gate input and where it came from."""

    value: Any
    source: str = "measured"

    @classmethod
    def missing(cls) -> Measured:
        return cls(None, "missing")


@dataclass(frozen=True)
class GateInputs:
    target: str
    feature_schema_version: str
    null_rate: float
    staleness_ms_p95: Measured
    symbol_coverage: int
    metrics: dict[str, Any]
    robustness: dict[str, Any]
    deflated_sharpe: float | None
    fragility_score: float
    fragility_state: str
    stability_mode_active: Measured
    tca: dict[str, Any] | None
    llm_error_ratio: Measured
    forecast: dict[str, Measured]
    operational: dict[str, Measured]
    profitability: dict[str, Any]
    approval_token_present: bool
    live_switch_on: bool


@dataclass
class GateResult:
    gate_id: str
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    artifact_refs: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {"gate_id": self.gate_id, "status": "pass" if self.passed else "fail", "reasons": self.reasons,
                "details": self.details, "artifact_refs": sorted(self.artifact_refs)}


def _at_most(result: GateResult, name: str, value: Any, limit: float, reason: str, missing: str | None = None) -> None:
    result.details[name] = value
    if value is None:
        if missing:
            result.reasons.append(missing)
    elif value > limit:
        result.reasons.append(reason)


def _at_least(result: GateResult, name: str, value: Any, limit: float, reason: str, missing: str | None = None) -> None:
    result.details[name] = value
    if value is None:
        if missing:
            result.reasons.append(missing)
    elif value < limit:
        result.reasons.append(reason)


def gate0(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    result = GateResult("gate0_data_integrity")
    result.details["feature_schema_version"] = inputs.feature_schema_version
    if inputs.feature_schema_version != policy.required_feature_schema_version:
        result.reasons.append("schema_version_incompatible")
    _at_most(result, "required_feature_null_rate", inputs.null_rate, policy.gate0_max_null_rate,
             "required_feature_null_rate_exceeds_threshold")
    _at_most(result, "staleness_ms_p95", inputs.staleness_ms_p95.value, policy.gate0_max_staleness_ms,
             "feature_staleness_exceeds_budget", "feature_staleness_missing")
    result.details["staleness_source"] = inputs.staleness_ms_p95.source
    _at_least(result, "symbol_coverage", inputs.symbol_coverage, policy.gate0_min_symbol_coverage,
              "symbol_coverage_below_minimum")
    return result


def gate1(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    result = GateResult("gate1_statistical_robustness")
    metrics, robustness = inputs.metrics, inputs.robustness
    _at_least(result, "decision_count", metrics["decision_count"], policy.gate1_min_decision_count,
              "decision_count_below_minimum")
    _at_least(result, "trade_count", metrics["trade_count"], policy.gate1_min_trade_count, "trade_count_below_minimum")
    _at_least(result, "net_pnl", metrics["net_pnl"], policy.gate1_min_net_pnl, "net_pnl_below_minimum")
    if robustness["fold_count"] > 0:
        _at_most(result, "negative_fold_ratio", robustness["negative_fold_ratio"],
                 policy.gate1_max_negative_fold_ratio, "negative_fold_ratio_exceeds_threshold")
    _at_most(result, "net_pnl_cv", robustness["net_pnl_cv"], policy.gate1_max_net_pnl_cv,
             "net_pnl_cv_exceeds_threshold")
    _at_least(result, "deflated_sharpe", inputs.deflated_sharpe, policy.gate1_min_deflated_sharpe,
              "deflated_sharpe_below_threshold", "deflated_sharpe_missing")
    return result


def gate2(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    result = GateResult("gate2_risk_capacity")
    metrics = inputs.metrics
    _at_most(result, "max_drawdown", metrics["max_drawdown"], policy.gate2_max_drawdown, "drawdown_exceeds_maximum")
    _at_most(result, "turnover_ratio", metrics["turnover_ratio"], policy.gate2_max_turnover_ratio,
             "turnover_ratio_exceeds_maximum")
    _at_most(result, "cost_bps", metrics["cost_bps"], policy.gate2_max_cost_bps, "cost_bps_exceeds_maximum")
    _at_most(result, "fragility_score", inputs.fragility_score, policy.gate2_max_fragility_score,
             "fragility_score_exceeds_maximum")
    rank = FRAGILITY_STATES.index(inputs.fragility_state)
    result.details.update(fragility_state=inputs.fragility_state, fragility_state_rank=rank,
                          stability_mode_active=inputs.stability_mode_active.value)
    if rank > policy.gate2_max_fragility_state_rank:
        result.reasons.append("fragility_state_exceeds_maximum")
    if (rank >= FRAGILITY_STATES.index("stress") and policy.gate2_require_stability_mode_under_stress
            and inputs.stability_mode_active.value is not True):
        result.reasons.append("fragility_stability_mode_inactive")
    tca = inputs.tca
    result.details["tca"] = tca
    if tca and tca.get("order_count", 0) > 0:
        _at_most(result, "tca_slippage_bps", tca.get("avg_slippage_bps"), policy.gate2_max_tca_slippage_bps,
                 "tca_slippage_exceeds_maximum", "tca_slippage_missing")
        _at_most(result, "tca_shortfall_notional", tca.get("avg_shortfall_notional"),
                 policy.gate2_max_tca_shortfall_notional, "tca_shortfall_exceeds_maximum", "tca_shortfall_missing")
        _at_most(result, "tca_churn_ratio", tca.get("churn_ratio"), policy.gate2_max_tca_churn_ratio,
                 "tca_churn_ratio_exceeds_maximum", "tca_churn_ratio_missing")
    return result


def gate3(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    result = GateResult("gate3_shadow_paper_quality")
    _at_most(result, "llm_error_ratio", inputs.llm_error_ratio.value, policy.gate3_max_llm_error_ratio,
             "llm_error_ratio_exceeds_threshold", "llm_error_ratio_missing")
    result.details["llm_error_ratio_source"] = inputs.llm_error_ratio.source
    if not policy.gate3_require_forecast_metrics:
        result.details["forecast"] = "not_required_by_policy"
        return result
    forecast = inputs.forecast
    _at_most(result, "forecast_fallback_rate", forecast["fallback_rate"].value, policy.gate3_max_forecast_fallback_rate,
             "forecast_fallback_rate_exceeds_threshold", "forecast_fallback_rate_missing")
    _at_most(result, "forecast_inference_latency_ms_p95", forecast["inference_latency_ms_p95"].value,
             policy.gate3_max_forecast_latency_ms_p95, "forecast_inference_latency_exceeds_threshold",
             "forecast_inference_latency_p95_missing")
    _at_least(result, "forecast_calibration_score", forecast["calibration_score_min"].value,
              policy.gate3_min_forecast_calibration_score, "forecast_calibration_score_below_threshold",
              "forecast_calibration_score_missing")
    return result


def gate4(inputs: GateInputs) -> GateResult:
    result = GateResult("gate4_operational_readiness")
    for name, reason in (("operational_ready", "operational_readiness_incomplete"),
                         ("runbook_validated", "runbook_not_validated"),
                         ("kill_switch_dry_run_passed", "kill_switch_dry_run_failed"),
                         ("rollback_dry_run_passed", "rollback_dry_run_failed")):
        value = inputs.operational[name]
        result.details[name] = {"value": value.value, "source": value.source}
        if value.value is not True:
            result.reasons.append(reason)
    return result


def gate5(inputs: GateInputs, policy: GatePolicy) -> GateResult:
    """Live needs all three: the policy enables it, a token is given, and the operator's live switch is on."""
    result = GateResult("gate5_live_ramp_readiness")
    result.details.update(live_enabled_by_policy=policy.gate5_live_enabled,
                          approval_token_present=inputs.approval_token_present,
                          live_switch_on=inputs.live_switch_on)
    if inputs.target != "live":
        return result
    if not policy.gate5_live_enabled:
        result.reasons.append("live_rollout_disabled_by_policy")
    if policy.gate5_require_approval_token and not inputs.approval_token_present:
        result.reasons.append("approval_token_missing")
    if not inputs.live_switch_on:
        result.reasons.append("live_promotion_switch_off")
    return result
