"""Promote an evaluated DSPy artifact: the promotion record, approved or refused with every reason.

``promote(...)`` always returns a record (a refusal is a decision, kept on file). It is refused,
with all reasons that apply, when:

- the chain does not hold: the compile result's artifact hash does not recompute
  (``compile_result_artifact_hash_mismatch``), the eval report is for another artifact
  (``eval_report_artifact_hash_mismatch``) or was edited (``eval_hash_mismatch``), or it was judged
  under another metric policy (``metric_policy_mismatch``);
- the eval did not pass (``eval_gate_compatibility_failed``, ``eval_recommendation_hold``);
- the target is not in the policy's ``allowedTargets`` (``promotion_target_not_allowed:<target>``);
- the policy requires an approval token and none is referenced (``approval_token_missing``);
- a shadow or paper target is above the eval's recommendation (``promotion_target_above_recommendation``);
- a live target (``constrained_live``, ``scaled_live``) without the lane's live rule, all three of:
  the policy enables live (``promotion.liveEnabled``, else ``live_rollout_disabled_by_policy``), an
  approval token (always, whatever ``requireApprovalToken`` says, else ``approval_token_missing``)
  and the operator's live switch (``TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION=true``, else
  ``live_promotion_switch_off``), and an eval that recommended at least paper
  (``live_requires_paper_recommendation``): live follows paper, as in the orchestration guard.

The live rule and its reason codes are the lane's gate5 (``gates/matrix.py``). gate5 itself takes
the lane's whole ``GateInputs`` (signals, folds, evidence), which a DSPy promotion does not have, so
:func:`live_refusals` restates its three conditions over plain values.

``approvalTokenRef`` is a reference to the approval (a ticket or secret name), never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..live_switch import live_switch_on
from .metric_policy import MetricPolicy
from .schemas import LIVE_TARGETS, RANK, DSPyCompileResult, DSPyEvalReport, DSPyPromotionRecord
from .workflow import build_promotion_record, recompute_artifact_hash, recompute_eval_hash


@dataclass(frozen=True)
class PromotionRequest:
    target: str
    approval_token_ref: str | None
    promoted_by: str | None
    live_switch_on: bool


def live_switch(environ: Mapping[str, str] | None = None) -> bool:
    """The operator's live switch (the environment, or the flag server when feature flags are on)."""
    return live_switch_on(environ)


def live_refusals(*, live_enabled_by_policy: bool, approval_token_present: bool, live_switch_on: bool) -> list[str]:
    """The lane's live rule (gate5): live needs the policy, an approval token and the live switch."""
    reasons = []
    if not live_enabled_by_policy:
        reasons.append("live_rollout_disabled_by_policy")
    if not approval_token_present:
        reasons.append("approval_token_missing")
    if not live_switch_on:
        reasons.append("live_promotion_switch_off")
    return reasons


def promotion_refusals(compile_result: DSPyCompileResult, eval_report: DSPyEvalReport, policy: MetricPolicy,
                       request: PromotionRequest) -> list[str]:
    reasons: list[str] = []
    if recompute_artifact_hash(compile_result) != compile_result.artifact_hash:
        reasons.append("compile_result_artifact_hash_mismatch")
    if eval_report.artifact_hash != compile_result.artifact_hash:
        reasons.append("eval_report_artifact_hash_mismatch")
    if recompute_eval_hash(eval_report) != eval_report.eval_hash:
        reasons.append("eval_hash_mismatch")
    if eval_report.metric_bundle.get("metricPolicyRef") != policy.ref:
        reasons.append("metric_policy_mismatch")
    if eval_report.gate_compatibility != "pass":
        reasons.append("eval_gate_compatibility_failed")
    if eval_report.promotion_recommendation == "hold":
        reasons.append("eval_recommendation_hold")
    rules = policy.policy.promotion
    target = request.target
    if target not in rules.allowed_targets:
        reasons.append(f"promotion_target_not_allowed:{target}")
    token = bool(request.approval_token_ref and request.approval_token_ref.strip())
    if target in LIVE_TARGETS:
        reasons.extend(live_refusals(live_enabled_by_policy=rules.live_enabled, approval_token_present=token,
                                     live_switch_on=request.live_switch_on))
        if RANK[eval_report.promotion_recommendation] < RANK["paper"]:
            reasons.append("live_requires_paper_recommendation")
    else:
        if rules.require_approval_token and not token:
            reasons.append("approval_token_missing")
        if eval_report.promotion_recommendation != "hold" and RANK[target] > RANK[eval_report.promotion_recommendation]:
            reasons.append("promotion_target_above_recommendation")
    return list(dict.fromkeys(reasons))


def promote(compile_result: DSPyCompileResult, eval_report: DSPyEvalReport, policy: MetricPolicy,
            request: PromotionRequest, *, created_at: datetime) -> DSPyPromotionRecord:
    reasons = promotion_refusals(compile_result, eval_report, policy, request)
    ref = request.approval_token_ref.strip() if request.approval_token_ref and request.approval_token_ref.strip() \
        else None
    return build_promotion_record(eval_report=eval_report, promotion_target=request.target, approved=not reasons,
                                  approval_token_ref=ref, promoted_by=request.promoted_by, reasons=reasons,
                                  created_at=created_at)
