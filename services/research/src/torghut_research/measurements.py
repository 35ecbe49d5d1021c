"""What the lane measures for the gates from its own inputs, and where the evidence file fills in.

An item the inputs can show is measured and the evidence file cannot override it; one they
cannot show comes from the evidence file, or is missing (and its gate fails closed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .gates.matrix import FRAGILITY_STATES, Measured
from .policy import Evidence
from .signals import SignalSet

REQUIRED_FEATURES = ("price", "macd", "macd_signal", "rsi14")


def null_rates(signals: SignalSet) -> dict[str, float]:
    """Share of required features missing, over all signals and after each stream's warm-up.

    Indicators are undefined for a stream's first bars (MACD's signal line needs 34): that gap is
    structural, so the gate reads the rate after each (symbol, window)'s first complete signal.
    """
    columns = signals.columns
    missing = np.stack([np.isnan(signals.price), np.isnan(columns.macd), np.isnan(columns.macd_signal),
                        np.isnan(columns.rsi14)], axis=1)
    complete = ~missing.any(axis=1)
    keys = pd.MultiIndex.from_arrays([columns.symbol, columns.stream])
    codes, _ = pd.factorize(keys)
    warm = pd.Series(complete).groupby(codes).cummax().to_numpy(dtype=bool)
    after = missing[warm]
    return {"all": float(missing.mean()),
            "after_warm_up": float(after.mean()) if len(after) else 1.0,
            "warm_up_signals": int(np.count_nonzero(~warm))}


def staleness(signals: SignalSet, evidence: Evidence) -> Measured:
    """p95 of (broker time - event time) for live records; a replay's broker time says nothing."""
    stamped = ~np.isnan(signals.record_ts_ms)
    if stamped.any():
        lag = signals.record_ts_ms[stamped] - signals.columns.event_ns[stamped] / 1e6
        ordered = np.sort(np.maximum(lag, 0))
        return Measured(float(ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)]), "measured")
    if evidence.staleness_ms_p95 is not None:
        return Measured(evidence.staleness_ms_p95, "evidence")
    return Measured.missing()


def llm_error_ratio(signals: SignalSet, evidence: Evidence) -> Measured:
    """Decisions held because the engine failed (decision-client's ``engine_*`` reason codes) over all."""
    if signals.decisions:
        failed = sum(1 for d in signals.decisions
                     if any(str(code).startswith("engine_") for code in d.get("reason_codes") or []))
        return Measured(failed / len(signals.decisions), "measured")
    if evidence.llm_error_ratio is not None:
        return Measured(evidence.llm_error_ratio, "evidence")
    return Measured.missing()


def fragility(stress: dict[str, dict[str, Any]]) -> tuple[float, str]:
    """The share of stress cases that lose money, and its state: none normal, up to a quarter elevated,
    up to three quarters stress, all of them crisis."""
    if not stress:
        return 1.0, "crisis"
    share = sum(1 for m in stress.values() if m["net_pnl"] < 0) / len(stress)
    state = 0 if share == 0 else 1 if share <= 0.25 else 2 if share < 1 else 3
    return share, FRAGILITY_STATES[state]


def from_evidence(value: Any) -> Measured:
    return Measured.missing() if value is None else Measured(value, "evidence")


def forecast(evidence: Evidence) -> dict[str, Measured]:
    items = evidence.forecast
    return {"fallback_rate": from_evidence(items.fallback_rate),
            "inference_latency_ms_p95": from_evidence(items.inference_latency_ms_p95),
            "calibration_score_min": from_evidence(items.calibration_score_min)}


def operational(evidence: Evidence) -> dict[str, Measured]:
    items = evidence.operational
    return {name: from_evidence(getattr(items, name)) for name in (
        "operational_ready", "runbook_validated", "kill_switch_dry_run_passed", "rollback_dry_run_passed")}
