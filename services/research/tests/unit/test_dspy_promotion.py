"""Promotion: allowed targets, approval tokens, the chain check, and the live rule over every combination."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from torghut_research.dspy.evaluator import evaluate
from torghut_research.dspy.metric_policy import SHIPPED, MetricPolicy, parse_metric_policy
from torghut_research.dspy.promotion import PromotionRequest, live_refusals, live_switch, promote
from torghut_research.dspy.schemas import PROMOTION_TARGETS, DSPyCompileResult, DSPyEvalReport
from torghut_research.dspy.workflow import build_compile_result, recompute_promotion_hash

CREATED = datetime(2026, 2, 12, 21, 0, tzinfo=UTC)
GOOD = {"schemaValidRate": 0.998, "vetoAlignmentRate": 0.9, "falseVetoRate": 0.01, "fallbackRate": 0.0,
        "latencyP95Ms": 1200}


def compile_result() -> DSPyCompileResult:
    return build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [1, 2, 3]}, metric_bundle={"score": 0.9}, compiled_prompt_payload={"p": "x"},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=7, created_at=CREATED)


def policy(*, default: str = "shadow", live_enabled: bool = False, require_token: bool = True,
           allowed: list[str] | None = None) -> MetricPolicy:
    raw: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    raw["policy"]["promotion"].update(defaultRecommendation=default, liveEnabled=live_enabled,
                                      requireApprovalToken=require_token)
    if allowed is not None:
        raw["policy"]["promotion"]["allowedTargets"] = allowed
    return parse_metric_policy(raw, "test policy")


def evaluated(p: MetricPolicy, observed: dict[str, Any] | None = None) -> tuple[DSPyCompileResult, DSPyEvalReport]:
    result = compile_result()
    return result, evaluate(result, observed or GOOD, {"vetoAlignmentRate": 0.85}, p, created_at=CREATED)


def request(target: str, token: str | None = "ticket-42", switch: bool = False) -> PromotionRequest:
    return PromotionRequest(target=target, approval_token_ref=token, promoted_by="ops", live_switch_on=switch)


def test_a_shadow_promotion_with_a_token_is_approved() -> None:
    p = policy()
    result, report = evaluated(p)
    record = promote(result, report, p, request("shadow"), created_at=CREATED)
    assert (record.approved, record.reasons, record.approval_token_ref) == (True, [], "ticket-42")
    assert record.promotion_hash == recompute_promotion_hash(record)


def test_no_token_when_the_policy_requires_one_is_refused() -> None:
    p = policy()
    result, report = evaluated(p)
    for token in (None, "", "   "):
        record = promote(result, report, p, request("shadow", token=token), created_at=CREATED)
        assert (record.approved, record.reasons, record.approval_token_ref) == (False, ["approval_token_missing"], None)
    relaxed = policy(require_token=False)
    result, report = evaluated(relaxed)
    assert promote(result, report, relaxed, request("shadow", token=None), created_at=CREATED).approved


def test_a_target_outside_allowed_targets_is_refused() -> None:
    p = policy(allowed=["shadow"])
    result, report = evaluated(p)
    record = promote(result, report, p, request("paper"), created_at=CREATED)
    assert "promotion_target_not_allowed:paper" in record.reasons and not record.approved


def test_a_target_above_the_recommendation_is_refused() -> None:
    p = policy()
    result, report = evaluated(p)
    assert report.promotion_recommendation == "shadow"
    record = promote(result, report, p, request("paper"), created_at=CREATED)
    assert record.reasons == ["promotion_target_above_recommendation"]
    paper = policy(default="paper")
    result, report = evaluated(paper)
    assert promote(result, report, paper, request("paper"), created_at=CREATED).approved
    assert promote(result, report, paper, request("shadow"), created_at=CREATED).approved


def test_a_failed_eval_is_never_promoted() -> None:
    p = policy()
    result, report = evaluated(p, {**GOOD, "schemaValidRate": 0.5})
    for target in PROMOTION_TARGETS:
        record = promote(result, report, p, request(target, switch=True), created_at=CREATED)
        assert not record.approved
        assert {"eval_gate_compatibility_failed", "eval_recommendation_hold"} <= set(record.reasons)


def test_a_broken_chain_is_refused() -> None:
    p = policy()
    result, report = evaluated(p)
    tampered = DSPyCompileResult.model_validate({**result.dump(), "programName": "other"})
    assert "compile_result_artifact_hash_mismatch" in promote(tampered, report, p, request("shadow"),
                                                              created_at=CREATED).reasons
    edited = DSPyEvalReport.model_validate({**report.dump(), "schemaValidRate": 1.0})
    assert promote(result, edited, p, request("shadow"), created_at=CREATED).reasons == ["eval_hash_mismatch"]
    other_policy = policy(require_token=False)
    assert "metric_policy_mismatch" in promote(result, report, other_policy, request("shadow"),
                                               created_at=CREATED).reasons


@pytest.mark.parametrize("target", ["constrained_live", "scaled_live"])
@pytest.mark.parametrize(("live_enabled", "token", "switch", "recommendation"), list(
    itertools.product([False, True], [None, "ticket-42"], [False, True], ["shadow", "paper"])))
def test_live_needs_policy_token_switch_and_a_paper_recommendation(
        target: str, live_enabled: bool, token: str | None, switch: bool, recommendation: str) -> None:
    for require_token in (True, False):
        p = policy(default=recommendation, live_enabled=live_enabled, require_token=require_token)
        result, report = evaluated(p)
        record = promote(result, report, p, request(target, token=token, switch=switch), created_at=CREATED)
        expected = live_refusals(live_enabled_by_policy=live_enabled, approval_token_present=token is not None,
                                 live_switch_on=switch)
        if recommendation != "paper":
            expected.append("live_requires_paper_recommendation")
        assert record.reasons == expected
        assert record.approved is (live_enabled and token is not None and switch and recommendation == "paper")


@pytest.mark.parametrize("target", ["constrained_live", "scaled_live"])
def test_live_is_refused_when_not_in_allowed_targets_even_with_everything_else(target: str) -> None:
    p = policy(default="paper", live_enabled=True, allowed=["shadow", "paper"])
    result, report = evaluated(p)
    record = promote(result, report, p, request(target, switch=True), created_at=CREATED)
    assert record.reasons == [f"promotion_target_not_allowed:{target}"]


def test_the_shipped_policy_never_allows_live() -> None:
    p = parse_metric_policy(yaml.safe_load(SHIPPED.read_text()), "shipped")
    result, report = evaluated(p)
    for target in ("constrained_live", "scaled_live"):
        record = promote(result, report, p, request(target, switch=True), created_at=CREATED)
        assert not record.approved and "live_rollout_disabled_by_policy" in record.reasons


def test_the_live_switch_reads_the_lanes_variable() -> None:
    assert live_switch({"TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION": "true"})
    assert live_switch({"TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION": " TRUE "})
    for value in ("", "1", "yes", "false"):
        assert not live_switch({"TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION": value})
    assert not live_switch({})


def test_a_record_that_claims_approval_with_reasons_is_invalid() -> None:
    p = policy()
    result, report = evaluated(p)
    dump = promote(result, report, p, request("shadow"), created_at=CREATED).dump()
    with pytest.raises(ValueError, match="approved record has no reasons"):
        type(promote(result, report, p, request("shadow"), created_at=CREATED)).model_validate(
            {**dump, "reasons": ["x"]})
