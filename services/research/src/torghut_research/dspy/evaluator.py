"""Judge a compiled DSPy program against the metric policy (research-lane.md §4.4), failing closed.

``evaluate(compile_result, observed_metrics, baseline, policy, created_at=...)`` returns the eval
report. Its ``metricBundle`` records what was observed, each threshold and check, the baseline, the
policy's hash and every failing reason, in this order:

1. ``compile_result_missing_observed_metrics:<keys>``: observed metrics nobody measured (comma-joined,
   camelCase, in the order below);
2. ``<metric>_threshold_missing``: the policy sets no threshold for a metric;
3. ``schema_valid_rate_below_min``, ``veto_alignment_rate_below_min``, ``false_veto_rate_above_max``,
   ``latency_p95_ms_above_max``, ``fallback_rate_above_max``, and ``hgrm_mean_reward_below_min`` when
   the policy sets ``hgrmMeanRewardMin`` (optional, not upstream's: then a missing ``hgrmMeanReward``
   is listed under 1);
4. ``deterministic_required_keys_missing``, ``deterministic_artifact_hash_mismatch``: the compile
   result lacks a hash the policy requires, or its artifact hash does not recompute from its fields
   (the file was edited).

Any reason makes ``gateCompatibility: fail`` and the recommendation ``hold``. Otherwise the
recommendation is the policy's ``defaultRecommendation`` when it is in ``allowedTargets``, else
hold (``default_recommendation_not_allowed``).

Observed metrics (``schemaValidRate``, ``vetoAlignmentRate``, ``falseVetoRate``, ``fallbackRate``,
``latencyP95Ms``) are looked up in the observed-metrics document, at any depth, under their
camelCase or snake_case name (a top-level key first, so a previous eval report can serve as the
baseline). Two different values under one name are an error, as is a rate
outside 0..1, a negative latency or anything that is not a number. A fractional latency is rounded
up (the report's field is whole milliseconds; up is the cautious side).

Where this is stricter than upstream: upstream compared veto alignment to ``baseline or 0`` plus
the delta, so with no baseline a program that agreed with the firewall's veto 2% of the time
passed. Here, with neither an explicit ``vetoAlignmentRateMin`` nor a baseline rate, the floor is
unknown and the check fails (``veto_alignment_rate_threshold_missing``). Upstream's observed metrics
came from the compile result's own metric bundle (the optimiser's scores on its own data); here
they come from a separate observed-metrics file, the evaluation's measurements.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import InputError
from .hashing import hash_payload
from .metric_policy import MetricPolicy
from .schemas import DSPyCompileResult, DSPyEvalReport
from .workflow import build_eval_report, normalise, recompute_artifact_hash

METRICS: dict[str, str] = {
    "schemaValidRate": "schema_valid_rate",
    "vetoAlignmentRate": "veto_alignment_rate",
    "falseVetoRate": "false_veto_rate",
    "fallbackRate": "fallback_rate",
    "latencyP95Ms": "latency_p95_ms",
}
BASELINE_KEYS = ("baselineVetoAlignmentRate", "baseline_veto_alignment_rate", "vetoAlignmentRate",
                 "veto_alignment_rate")


def _leaves(document: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    """Every (leaf key, dotted path, value) of a nested mapping."""
    out: list[tuple[str, str, Any]] = []
    for key, value in document.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.extend(_leaves(value, path))
        else:
            out.append((str(key), path, value))
    return out


def _find(document: Mapping[str, Any], names: tuple[str, ...], origin: str) -> tuple[str, Any] | None:
    """A top-level key wins; otherwise the one value found under any of ``names`` at any depth."""
    top = [(name, document[name]) for name in names if name in document and not isinstance(document[name], Mapping)]
    found = top or [(path, value) for key, path, value in _leaves(document) if key in names]
    if not found:
        return None
    if len({hash_payload(_number_or_raw(v)) for _, v in found}) > 1:
        raise InputError(f"{origin}: {names[0]} is given more than once with different values: "
                         + ", ".join(path for path, _ in found))
    return found[0]


def _number_or_raw(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)


def _number(value: Any, path: str, origin: str, *, rate: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{origin}: {path}: expected a finite number, got {value!r}")
    if rate and not 0 <= value <= 1:
        raise InputError(f"{origin}: {path}: a rate must be between 0 and 1, got {value!r}")
    if not rate and value < 0:
        raise InputError(f"{origin}: {path}: a latency cannot be negative, got {value!r}")
    return float(value)


def observed_values(observed_metrics: Mapping[str, Any], origin: str = "observed metrics") -> dict[str, float | None]:
    """The five observed metrics by camelCase name; None where absent. Raises InputError for a malformed value."""
    values: dict[str, float | None] = {}
    for camel, snake in METRICS.items():
        hit = _find(observed_metrics, (camel, snake), origin)
        values[camel] = None if hit is None else _number(hit[1], hit[0], origin, rate=camel != "latencyP95Ms")
    return values


def hgrm_mean_reward(observed_metrics: Mapping[str, Any], origin: str = "observed metrics") -> float | None:
    """The observed mean HGRM reward (any finite number), or None when absent or null."""
    hit = _find(observed_metrics, ("hgrmMeanReward", "hgrm_mean_reward"), origin)
    if hit is None or hit[1] is None:
        return None
    value = hit[1]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{origin}: {hit[0]}: expected a finite number, got {value!r}")
    return float(value)


def baseline_rate(baseline: Mapping[str, Any] | None, origin: str = "baseline") -> float | None:
    """The baseline's veto alignment rate (a previous eval report or metrics file), or None."""
    if baseline is None:
        return None
    for names in (BASELINE_KEYS[:2], BASELINE_KEYS[2:]):
        hit = _find(baseline, names, origin)
        if hit is not None:
            return _number(hit[1], hit[0], origin, rate=True)
    raise InputError(f"{origin}: no vetoAlignmentRate (or baselineVetoAlignmentRate) in the baseline")


def evaluate(compile_result: DSPyCompileResult, observed_metrics: Mapping[str, Any],
             baseline: Mapping[str, Any] | None, policy: MetricPolicy, *, created_at: datetime,
             observed_origin: str = "observed metrics", baseline_origin: str = "baseline") -> DSPyEvalReport:
    observed = observed_values(observed_metrics, observed_origin)
    base = baseline_rate(baseline, baseline_origin)
    rules = policy.policy
    reasons: list[str] = []

    hgrm = hgrm_mean_reward(observed_metrics, observed_origin) if rules.hgrm_mean_reward_min is not None else None
    missing = [name for name, value in observed.items() if value is None]
    if rules.hgrm_mean_reward_min is not None and hgrm is None:
        missing.append("hgrmMeanReward")
    if missing:
        reasons.append("compile_result_missing_observed_metrics:" + ",".join(missing))

    latency = observed["latencyP95Ms"]
    latency_ms = None if latency is None else math.ceil(latency)
    veto_floor: float | None = rules.veto_alignment_rate_min
    veto_floor_source = "vetoAlignmentRateMin"
    if veto_floor is None:
        veto_floor_source = "baseline+vetoAlignmentRateMinDelta"
        if base is not None and rules.veto_alignment_rate_min_delta is not None:
            veto_floor = min(max(base + rules.veto_alignment_rate_min_delta, 0.0), 1.0)
    fallback_max = rules.fallback_rate_max if rules.fallback_rate_max is not None else rules.false_veto_rate_max
    checks_spec: list[tuple[str, str, float | None, float | None, str]] = [
        # (metric, threshold kind, observed, threshold, reason stem)
        ("schemaValidRate", "min", observed["schemaValidRate"], rules.schema_valid_rate_min, "schema_valid_rate"),
        ("vetoAlignmentRate", "min", observed["vetoAlignmentRate"], veto_floor, "veto_alignment_rate"),
        ("falseVetoRate", "max", observed["falseVetoRate"], rules.false_veto_rate_max, "false_veto_rate"),
        ("latencyP95Ms", "max", None if latency_ms is None else float(latency_ms), rules.latency_p95_ms_max,
         "latency_p95_ms"),
        ("fallbackRate", "max", observed["fallbackRate"], fallback_max, "fallback_rate"),
    ]
    threshold_reasons = [f"{stem}_threshold_missing" for _, _, _, threshold, stem in checks_spec if threshold is None]
    reasons.extend(threshold_reasons)
    checks: dict[str, dict[str, Any]] = {}
    for metric, kind, value, threshold, stem in checks_spec:
        passed: bool | None = None
        if value is not None and threshold is not None:
            passed = value >= threshold if kind == "min" else value <= threshold
            if not passed:
                reasons.append(f"{stem}_{'below_min' if kind == 'min' else 'above_max'}")
        checks[metric] = {"observed": value, kind: threshold, "passed": passed}
    if rules.hgrm_mean_reward_min is not None:
        passed = None if hgrm is None else hgrm >= rules.hgrm_mean_reward_min
        if passed is False:
            reasons.append("hgrm_mean_reward_below_min")
        checks["hgrmMeanReward"] = {"observed": hgrm, "min": rules.hgrm_mean_reward_min, "passed": passed}
    checks["vetoAlignmentRate"]["minSource"] = veto_floor_source
    checks["fallbackRate"]["maxSource"] = ("fallbackRateMax" if rules.fallback_rate_max is not None
                                           else "falseVetoRateMax")

    fields = compile_result.model_dump()
    absent = [key for key in rules.reproducibility.required_keys if not _present(fields, key)]
    if absent:
        reasons.append("deterministic_required_keys_missing")
    recomputed = recompute_artifact_hash(compile_result)
    if recomputed != compile_result.artifact_hash:
        reasons.append("deterministic_artifact_hash_mismatch")
    checks["deterministic"] = {"requiredKeys": list(rules.reproducibility.required_keys), "missingKeys": absent,
                               "artifactHash": compile_result.artifact_hash, "recomputedArtifactHash": recomputed,
                               "passed": not absent and recomputed == compile_result.artifact_hash}

    gate = "fail" if reasons else "pass"
    promotion = rules.promotion
    recommendation = "hold"
    if gate == "pass":
        if promotion.default_recommendation == "hold" or promotion.default_recommendation in promotion.allowed_targets:
            recommendation = promotion.default_recommendation
        else:  # unreachable with a validated policy; kept so a hand-built policy still fails closed
            reasons.append("default_recommendation_not_allowed")
    bundle = {
        "observed": observed,
        "baseline": {"vetoAlignmentRate": base},
        "checks": checks,
        "reasons": reasons,
        "metricPolicyRef": policy.ref,
        "compileResultRef": "sha256:" + hash_payload(compile_result.dump()),
        "datasetRef": "sha256:" + compile_result.dataset_hash,
        "gateCompatibilityRequired": rules.gate_compatibility_required,
    }
    return build_eval_report(
        compile_result=compile_result, schema_valid_rate=observed["schemaValidRate"],
        veto_alignment_rate=observed["vetoAlignmentRate"], false_veto_rate=observed["falseVetoRate"],
        latency_p95_ms=latency_ms, gate_compatibility=gate, promotion_recommendation=recommendation,
        metric_bundle=normalise(bundle), created_at=created_at)


def _present(fields: Mapping[str, Any], key: str) -> bool:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
    value = fields.get(snake)
    return isinstance(value, str) and bool(value.strip())


def reasons_of(report: DSPyEvalReport) -> list[str]:
    reasons = report.metric_bundle.get("reasons", [])
    return [str(r) for r in reasons] if isinstance(reasons, list) else []
