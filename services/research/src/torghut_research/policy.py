"""The gate policy (``--gate-policy``) and the evidence file (``--evidence``).

The policy keeps upstream Torghut's flat key names (research-lane.md §2.2) so an upstream operator
reads it as before; what differs: an unknown key is an error, not silently ignored, and a value of
0 means 0 (upstream turned a configured 0 into the default for several thresholds).

The evidence file carries what the lane cannot measure from its inputs: dry runs, operational
sign-offs, forecast metrics, and staleness or LLM error rate when the input cannot show them. Every
item is optional; a missing one fails its gate closed with a named reason. The file's hash goes
into the manifest, so what was attested is on record.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from .config import describe
from .errors import InputError

Rate = float


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_version: str = "v3-gates-1"
    required_feature_schema_version: str = "torghut.ta.signals.v1"
    # gate0: data integrity
    gate0_max_null_rate: float = Field(default=0.01, ge=0, le=1)
    gate0_max_staleness_ms: float = Field(default=120_000, ge=0)
    gate0_min_symbol_coverage: int = Field(default=1, ge=0)
    # gate1: statistical robustness
    gate1_min_decision_count: int = Field(default=1, ge=0)
    gate1_min_trade_count: int = Field(default=1, ge=0)
    gate1_min_net_pnl: float = 0.0
    gate1_max_negative_fold_ratio: float = Field(default=0.5, ge=0, le=1)
    gate1_max_net_pnl_cv: float = Field(default=2.0, ge=0)
    gate1_min_deflated_sharpe: float = Field(default=0.5, ge=0, le=1)
    """Probability that the true Sharpe is above zero after the grid's trials (Bailey & López de Prado)."""
    # gate2: risk and capacity
    gate2_max_drawdown: float = Field(default=250, ge=0)
    gate2_max_turnover_ratio: float = Field(default=8.0, ge=0)
    gate2_max_cost_bps: float = Field(default=35, ge=0)
    gate2_max_tca_slippage_bps: float = Field(default=25, ge=0)
    gate2_max_tca_shortfall_notional: float = Field(default=25, ge=0)
    gate2_max_tca_churn_ratio: float = Field(default=0.75, ge=0)
    gate2_max_fragility_score: float = Field(default=0.85, ge=0, le=1)
    gate2_max_fragility_state_rank: int = Field(default=2, ge=0, le=3)
    gate2_require_stability_mode_under_stress: bool = True
    # gate3: shadow / paper quality
    gate3_max_llm_error_ratio: float = Field(default=0.10, ge=0, le=1)
    gate3_require_forecast_metrics: bool = True
    gate3_max_forecast_fallback_rate: float = Field(default=0.05, ge=0, le=1)
    gate3_max_forecast_latency_ms_p95: float = Field(default=200, ge=0)
    gate3_min_forecast_calibration_score: float = Field(default=0.85, ge=0, le=1)
    # gate5: live ramp
    gate5_live_enabled: bool = False
    gate5_require_approval_token: bool = True
    # gate6: profitability evidence
    gate6_require_profitability_evidence: bool = True
    gate6_min_market_net_pnl_delta: float = 0.0
    gate6_min_regime_slice_pass_ratio: float = Field(default=0.5, ge=0, le=1)
    gate6_min_return_over_drawdown: float = 0.0
    gate6_max_cost_bps: float = Field(default=35, ge=0)
    gate6_max_calibration_error: float = Field(default=0.45, ge=0)
    gate6_min_reproducibility_hashes: int = Field(default=5, ge=0)
    gate6_min_significance_samples: int = Field(default=1, ge=0)
    gate6_require_janus_evidence: bool = True
    gate6_min_janus_event_count: int = Field(default=1, ge=0)
    gate6_min_janus_reward_count: int = Field(default=1, ge=0)
    # gate7: uncertainty calibration
    gate7_target_coverage: float = Field(default=0.90, gt=0, lt=1)
    gate7_max_coverage_error_pass: float = Field(default=0.03, ge=0)
    gate7_max_coverage_error_degrade: float = Field(default=0.05, ge=0)
    gate7_max_coverage_error_abstain: float = Field(default=0.08, ge=0)
    gate7_shift_score_degrade: float = Field(default=0.60, ge=0, le=1)
    gate7_shift_score_abstain: float = Field(default=0.80, ge=0, le=1)
    gate7_shift_score_fail: float = Field(default=0.95, ge=0, le=1)
    gate7_max_interval_width_pass: float = Field(default=1.25, ge=0)
    gate7_max_interval_width_degrade: float = Field(default=1.75, ge=0)
    # promotion prerequisites and rollback readiness
    promotion_required_artifacts: tuple[str, ...] = (
        "research/candidate-spec.json", "backtest/evaluation-report.json", "gates/gate-evaluation.json")
    promotion_require_patch_targets: tuple[str, ...] = ("paper", "live")
    promotion_profitability_required_targets: tuple[str, ...] = ("paper", "live")
    promotion_profitability_required_artifacts: tuple[str, ...] = (
        "gates/profitability-benchmark-v4.json", "gates/profitability-evidence-v4.json",
        "gates/profitability-evidence-validation.json", "gates/recalibration-report.json")
    promotion_profitability_min_regime_slices: int = Field(default=1, ge=0)
    promotion_uncertainty_max_coverage_error: float = Field(default=0.03, ge=0)
    promotion_min_signal_count: int = Field(default=1, ge=0)
    promotion_min_decision_count: int = Field(default=1, ge=0)
    promotion_min_trade_count: int = Field(default=0, ge=0)
    promotion_min_fold_metrics_count: int = Field(default=1, ge=0)
    promotion_min_stress_case_count: int = Field(default=4, ge=0)
    promotion_require_rationale: bool = True
    # Janus-Q evidence (research-lane.md §5.5); required iff gate6 requires it and the target is listed
    promotion_require_janus_evidence: bool = True
    promotion_janus_required_targets: tuple[str, ...] = ("paper", "live")
    promotion_janus_required_artifacts: tuple[str, ...] = (
        "gates/janus-event-car-v1.json", "gates/janus-hgrm-reward-v1.json")
    promotion_janus_event_car_artifact: str = "gates/janus-event-car-v1.json"
    promotion_janus_hgrm_reward_artifact: str = "gates/janus-hgrm-reward-v1.json"
    promotion_min_janus_event_count: int = Field(default=1, ge=0)
    """At least 1 whatever is configured, as upstream."""
    promotion_min_janus_reward_count: int = Field(default=1, ge=0)
    rollback_required_checks: tuple[str, ...] = (
        "killSwitchDryRunPassed", "gitopsRevertDryRunPassed", "strategyDisableDryRunPassed")
    rollback_dry_run_max_age_hours: float = Field(default=72, ge=0)
    rollback_require_human_approval: bool = True


class ForecastEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fallback_rate: float | None = Field(default=None, ge=0, le=1)
    inference_latency_ms_p95: float | None = Field(default=None, ge=0)
    calibration_score_min: float | None = Field(default=None, ge=0, le=1)


class OperationalEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    operational_ready: bool | None = None
    runbook_validated: bool | None = None
    kill_switch_dry_run_passed: bool | None = None
    rollback_dry_run_passed: bool | None = None


class RollbackEvidence(BaseModel):
    """Upstream's ``rollbackReadiness`` block, with its camelCase keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    killSwitchDryRunPassed: bool | None = None
    gitopsRevertDryRunPassed: bool | None = None
    strategyDisableDryRunPassed: bool | None = None
    dryRunCompletedAt: AwareDatetime | None = None
    humanApproved: bool | None = None
    rollbackTarget: str | None = None


class TcaEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    order_count: int = Field(ge=0)
    avg_slippage_bps: float | None = None
    avg_shortfall_notional: float | None = None
    churn_ratio: float | None = Field(default=None, ge=0)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attested_by: str | None = Field(default=None, max_length=200)
    attested_at: AwareDatetime | None = None
    staleness_ms_p95: float | None = Field(default=None, ge=0)
    llm_error_ratio: float | None = Field(default=None, ge=0, le=1)
    forecast: ForecastEvidence = ForecastEvidence()
    operational: OperationalEvidence = OperationalEvidence()
    rollback: RollbackEvidence = RollbackEvidence()
    stability_mode_active: bool | None = None
    tca: TcaEvidence | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def load_policy(path: Path) -> tuple[GatePolicy, bytes]:
    raw, data = _read_json(path, "gate policy")
    try:
        return GatePolicy.model_validate(raw), data
    except ValidationError as exc:
        raise InputError(f"{path}: invalid gate policy: {describe(exc)}") from None


def load_evidence(path: Path | None) -> tuple[Evidence, bytes | None]:
    if path is None:
        return Evidence(), None
    raw, data = _read_json(path, "evidence file")
    try:
        return Evidence.model_validate(raw), data
    except ValidationError as exc:
        raise InputError(f"{path}: invalid evidence file: {describe(exc)}") from None


def _read_json(path: Path, what: str) -> tuple[Any, bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: the {what} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the {what} must be a JSON object, got {type(raw).__name__}")
    return raw, data


def age_hours(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds() / 3600
