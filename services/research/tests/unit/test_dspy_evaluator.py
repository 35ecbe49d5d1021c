"""The DSPy metric policy and the fail-closed evaluator: every reason code, and malformed policies refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from torghut_research.dspy.evaluator import evaluate, reasons_of
from torghut_research.dspy.metric_policy import SHIPPED, MetricPolicy, load_metric_policy, parse_metric_policy
from torghut_research.dspy.schemas import DSPyCompileResult, DSPyEvalReport
from torghut_research.dspy.workflow import build_compile_result, recompute_eval_hash
from torghut_research.errors import InputError

CREATED = datetime(2026, 2, 12, 21, 0, tzinfo=UTC)
GOOD = {"schemaValidRate": 0.998, "vetoAlignmentRate": 0.9, "falseVetoRate": 0.01, "fallbackRate": 0.0,
        "latencyP95Ms": 1200}
BASELINE = {"vetoAlignmentRate": 0.85}


def compile_result() -> DSPyCompileResult:
    return build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [1, 2, 3]}, metric_bundle={"score": 0.9}, compiled_prompt_payload={"p": "x"},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=7, created_at=CREATED)


def shipped_raw() -> dict[str, Any]:
    raw = yaml.safe_load(SHIPPED.read_text())
    assert isinstance(raw, dict)
    return raw


def policy_with(**changes: Any) -> MetricPolicy:
    """The shipped policy with ``policy.<key>`` changed; a value of ``None`` removes the key."""
    raw = shipped_raw()
    for key, value in changes.items():
        if value is None:
            raw["policy"].pop(key, None)
        else:
            raw["policy"][key] = value
    return parse_metric_policy(raw, "test policy")


def run(observed: dict[str, Any] | None = None, baseline: dict[str, Any] | None = BASELINE,
        policy: MetricPolicy | None = None, result: DSPyCompileResult | None = None) -> DSPyEvalReport:
    return evaluate(result or compile_result(), GOOD if observed is None else observed, baseline,
                    policy or load_metric_policy(), created_at=CREATED)


# -- the shipped policy ---------------------------------------------------------------------------

def test_the_shipped_policy_has_upstreams_keys_and_a_non_live_default() -> None:
    policy = load_metric_policy(SHIPPED)
    rules = policy.policy
    assert (rules.schema_valid_rate_min, rules.veto_alignment_rate_min_delta, rules.false_veto_rate_max,
            rules.latency_p95_ms_max, rules.gate_compatibility_required) == (0.995, 0.02, 0.03, 1800, "pass")
    assert rules.reproducibility.required_keys == ["dataset_hash", "compiled_prompt_hash", "artifact_hash",
                                                   "reproducibility_hash"]
    assert rules.promotion.default_recommendation == "shadow"
    assert rules.promotion.allowed_targets == ["paper", "shadow", "constrained_live", "scaled_live"]
    assert rules.promotion.require_approval_token and not rules.promotion.live_enabled
    assert policy.agentrun.namespace == "agents" and policy.agentrun.ttl_seconds_after_finished == 14400


def test_a_passing_program_is_recommended_for_shadow() -> None:
    report = run()
    assert (report.gate_compatibility, report.promotion_recommendation, reasons_of(report)) == ("pass", "shadow", [])
    assert report.metric_bundle["checks"]["vetoAlignmentRate"]["min"] == pytest.approx(0.87)
    assert report.metric_bundle["metricPolicyRef"] == load_metric_policy().ref
    assert recompute_eval_hash(report) == report.eval_hash


# -- every reason code ----------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "reason"), [
    ({"schemaValidRate": 0.99}, "schema_valid_rate_below_min"),
    ({"vetoAlignmentRate": 0.86}, "veto_alignment_rate_below_min"),
    ({"falseVetoRate": 0.031}, "false_veto_rate_above_max"),
    ({"latencyP95Ms": 1800.2}, "latency_p95_ms_above_max"),
    ({"fallbackRate": 0.05}, "fallback_rate_above_max"),
])
def test_each_threshold_fails_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    report = run({**GOOD, **changes})
    assert reasons_of(report) == [reason]
    assert (report.gate_compatibility, report.promotion_recommendation) == ("fail", "hold")


def test_thresholds_are_inclusive() -> None:
    edge = {"schemaValidRate": 0.995, "vetoAlignmentRate": 0.87, "falseVetoRate": 0.03, "fallbackRate": 0.03,
            "latencyP95Ms": 1800}
    assert reasons_of(run(edge)) == []


def test_missing_observed_metrics_fail_closed_and_are_named() -> None:
    report = run({"schemaValidRate": 0.998, "vetoAlignmentRate": 0.9})
    assert reasons_of(report) == ["compile_result_missing_observed_metrics:falseVetoRate,fallbackRate,latencyP95Ms"]
    assert (report.false_veto_rate, report.latency_p95_ms, report.gate_compatibility,
            report.promotion_recommendation) == (None, None, "fail", "hold")


def test_observed_metrics_are_found_nested_and_under_snake_case() -> None:
    nested = {"eval": {"schema_valid_rate": 0.998, "veto_alignment_rate": 0.9}, "runtime": {
        "false_veto_rate": 0.01, "fallbackRate": 0.0, "latency_p95_ms": 1200}}
    assert reasons_of(run(nested)) == []
    top_level_wins = {**GOOD, "history": {"schemaValidRate": 0.2}}
    assert reasons_of(run(top_level_wins)) == []


@pytest.mark.parametrize(("observed", "message"), [
    ({**GOOD, "schemaValidRate": "0.99"}, "schemaValidRate: expected a finite number"),
    ({**GOOD, "falseVetoRate": True}, "falseVetoRate: expected a finite number"),
    ({**GOOD, "vetoAlignmentRate": 1.2}, "a rate must be between 0 and 1"),
    ({**GOOD, "latencyP95Ms": -1}, "cannot be negative"),
    ({"a": {**GOOD}, "b": {"schemaValidRate": 0.5}}, "given more than once with different values"),
])
def test_malformed_observed_metrics_are_input_errors(observed: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        run(observed)


@pytest.mark.parametrize(("key", "reason"), [
    ("schemaValidRateMin", "schema_valid_rate_threshold_missing"),
    ("falseVetoRateMax", "false_veto_rate_threshold_missing"),
    ("latencyP95MsMax", "latency_p95_ms_threshold_missing"),
    ("vetoAlignmentRateMinDelta", "veto_alignment_rate_threshold_missing"),
])
def test_a_missing_threshold_fails_its_metric(key: str, reason: str) -> None:
    report = run(policy=policy_with(**{key: None}))
    assert reasons_of(report) == [reason]
    assert report.promotion_recommendation == "hold"


def test_the_fallback_threshold_falls_back_to_false_veto_then_fails_when_both_are_missing() -> None:
    report = run({**GOOD, "fallbackRate": 0.025}, policy=policy_with(fallbackRateMax=None, falseVetoRateMax=0.02))
    assert reasons_of(report) == ["fallback_rate_above_max"]
    assert report.metric_bundle["checks"]["fallbackRate"]["maxSource"] == "falseVetoRateMax"
    both = run(policy=policy_with(fallbackRateMax=None, falseVetoRateMax=None))
    assert reasons_of(both) == ["false_veto_rate_threshold_missing", "fallback_rate_threshold_missing"]


def test_without_a_baseline_the_veto_floor_is_unknown_unless_the_policy_sets_one() -> None:
    assert reasons_of(run(baseline=None)) == ["veto_alignment_rate_threshold_missing"]
    explicit = run(baseline=None, policy=policy_with(vetoAlignmentRateMin=0.8))
    assert reasons_of(explicit) == []
    assert explicit.metric_bundle["checks"]["vetoAlignmentRate"]["minSource"] == "vetoAlignmentRateMin"


def test_the_veto_floor_is_clamped_to_one() -> None:
    report = run({**GOOD, "vetoAlignmentRate": 1.0}, baseline={"vetoAlignmentRate": 0.99})
    assert report.metric_bundle["checks"]["vetoAlignmentRate"]["min"] == 1.0
    assert reasons_of(report) == []


def test_a_baseline_eval_report_is_a_valid_baseline() -> None:
    previous = run().dump()
    report = run({**GOOD, "vetoAlignmentRate": 0.91}, baseline=previous)
    assert report.metric_bundle["baseline"]["vetoAlignmentRate"] == 0.9
    assert reasons_of(report) == ["veto_alignment_rate_below_min"]
    with pytest.raises(InputError, match="no vetoAlignmentRate"):
        run(baseline={"something": 1})


def test_a_required_key_the_compile_result_lacks_fails_closed() -> None:
    raw = shipped_raw()
    raw["policy"]["reproducibility"]["requiredKeys"].append("metric_policy_hash")
    assert reasons_of(run(policy=parse_metric_policy(raw, "p"))) == ["deterministic_required_keys_missing"]


def test_an_edited_compile_result_fails_its_artifact_hash() -> None:
    tampered = DSPyCompileResult.model_validate({**compile_result().dump(), "compiledArtifactUri": "s3://evil/x"})
    report = run(result=tampered)
    assert reasons_of(report) == ["deterministic_artifact_hash_mismatch"]
    assert report.metric_bundle["checks"]["deterministic"]["passed"] is False


def test_every_failure_is_reported_not_only_the_first() -> None:
    report = run({"schemaValidRate": 0.5, "vetoAlignmentRate": 0.1}, policy=policy_with(latencyP95MsMax=None))
    assert reasons_of(report) == ["compile_result_missing_observed_metrics:falseVetoRate,fallbackRate,latencyP95Ms",
                                  "latency_p95_ms_threshold_missing", "schema_valid_rate_below_min",
                                  "veto_alignment_rate_below_min"]


def test_a_hold_default_holds_even_when_everything_passes() -> None:
    raw = shipped_raw()
    raw["policy"]["promotion"]["defaultRecommendation"] = "hold"
    report = run(policy=parse_metric_policy(raw, "p"))
    assert (report.gate_compatibility, report.promotion_recommendation) == ("pass", "hold")


def test_an_eval_report_cannot_recommend_a_target_while_failing() -> None:
    dump = run({**GOOD, "schemaValidRate": 0.1}).dump()
    with pytest.raises(ValueError, match="must recommend hold"):
        DSPyEvalReport.model_validate({**dump, "promotionRecommendation": "paper"})
    with pytest.raises(ValueError, match="missing metric"):
        DSPyEvalReport.model_validate({**run().dump(), "latencyP95Ms": None})


# -- malformed policies -----------------------------------------------------------------------------

@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: r["policy"].__setitem__("schemaValidRateMin", "0.995"), "policy.schemaValidRateMin"),
    (lambda r: r["policy"].__setitem__("schemaValidRateMin", 1.5), "policy.schemaValidRateMin"),
    (lambda r: r["policy"].__setitem__("falseVetoRateMax", True), "policy.falseVetoRateMax"),
    (lambda r: r["policy"].__setitem__("latencyP95MsMax", -1), "policy.latencyP95MsMax"),
    (lambda r: r["policy"].__setitem__("schemaValidRateMn", 0.9), "policy.schemaValidRateMn: unknown key"),
    (lambda r: r["policy"].__setitem__("gateCompatibilityRequired", "none"), "policy.gateCompatibilityRequired"),
    (lambda r: r["policy"]["reproducibility"].__setitem__("algorithm", "md5"), "policy.reproducibility.algorithm"),
    (lambda r: r["policy"]["promotion"].__setitem__("allowedTargets", ["live"]), "policy.promotion.allowedTargets"),
    (lambda r: r["policy"]["promotion"].__setitem__("defaultRecommendation", "scaled_live"),
     "policy.promotion.defaultRecommendation"),
    (lambda r: r["policy"]["promotion"].__setitem__("allowedTargets", ["paper"]),
     "defaultRecommendation 'shadow' is not one of allowedTargets"),
    (lambda r: r["policy"]["promotion"].__setitem__("liveEnabled", "yes"), "policy.promotion.liveEnabled"),
    (lambda r: r["agentrun"].__setitem__("ttlSecondsAfterFinished", -5), "agentrun.ttlSecondsAfterFinished"),
    (lambda r: r.__setitem__("schemaVersion", "torghut.dspy.metrics.v2"), "schemaVersion"),
    (lambda r: r.pop("policy"), "policy: Field required"),
])
def test_a_malformed_policy_is_refused_naming_the_file_and_key(tmp_path: Path, mutate: Any, message: str) -> None:
    raw = shipped_raw()
    mutate(raw)
    path = tmp_path / "dspy-metrics.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError) as error:
        load_metric_policy(path)
    assert str(error.value).startswith(f"{path}: invalid DSPy metric policy: ")
    assert message in str(error.value)


def test_duplicate_keys_bad_yaml_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text(SHIPPED.read_text() + "policy: {}\n")
    with pytest.raises(InputError, match=r"dup\.yaml: the DSPy metric policy is not valid YAML: .*duplicate key"):
        load_metric_policy(duplicate)
    broken = tmp_path / "broken.yaml"
    broken.write_text("policy: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_metric_policy(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(InputError, match="must be a mapping"):
        load_metric_policy(listed)
    with pytest.raises(InputError, match="cannot read"):
        load_metric_policy(tmp_path / "absent.yaml")


# -- the optional HGRM floor ----------------------------------------------------------------------

def test_the_hgrm_floor_is_checked_only_when_the_policy_sets_it() -> None:
    floor = policy_with(hgrmMeanRewardMin=0.5)
    assert reasons_of(run({**GOOD, "hgrmMeanReward": 0.5}, policy=floor)) == []
    low = run({**GOOD, "hgrmMeanReward": 0.49}, policy=floor)
    assert reasons_of(low) == ["hgrm_mean_reward_below_min"]
    assert low.metric_bundle["checks"]["hgrmMeanReward"] == {"observed": 0.49, "min": 0.5, "passed": False}
    assert reasons_of(run({**GOOD, "hgrmMeanReward": -2.0})) == [], "the shipped policy sets no HGRM floor"


def test_a_missing_or_null_hgrm_reward_fails_closed_when_the_policy_needs_it() -> None:
    floor = policy_with(hgrmMeanRewardMin=-1.0)
    for observed in (GOOD, {**GOOD, "hgrmMeanReward": None}):
        assert reasons_of(run(observed, policy=floor)) == ["compile_result_missing_observed_metrics:hgrmMeanReward"]
    with pytest.raises(InputError, match="hgrmMeanReward: expected a finite number"):
        run({**GOOD, "hgrmMeanReward": "high"}, policy=floor)
