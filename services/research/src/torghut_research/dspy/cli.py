"""``torghut-research dspy``: dataset, compile, eval, promote and agentrun.

Each command prints one JSON object with sorted keys. Exit 0 when it decided, a hold or a refused
promotion included (read ``decision`` and ``reasons``); 2 with one line on stderr for input it
cannot use (a missing file, malformed JSON or policy, an invalid record); 1 when ``agentrun
--submit`` reached no verdict from Jangar (the JSON says why and whether the run may exist).
Every timestamp written comes from ``--created-at``, never the clock, so a re-run is byte-identical.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..argtypes import zoned_timestamp
from ..config import describe
from ..errors import InputError, read_json_object
from .agentrun import LANE_SPECS, AgentRunPayloadError, AgentRunSubmitError, build_dspy_agentrun_payload
from .evaluator import evaluate, reasons_of
from .metric_policy import load_metric_policy
from .promotion import PromotionRequest, live_switch, promote
from .schemas import PROMOTION_TARGETS, DSPyCompileResult, DSPyEvalReport
from .workflow import BUNDLE_FILE, COMPILE_RESULT_FILE, bundle_artifacts, write_artifact_bundle

M = TypeVar("M", bound=BaseModel)


def add_dspy_parser(commands: Any) -> None:
    """Register ``dspy dataset|compile|eval|promote|agentrun`` on the root parser's subcommands."""
    dspy = commands.add_parser("dspy", help="DSPy: data set, compile, eval against the metric policy, promote, "
                                            "AgentRun")
    steps = dspy.add_subparsers(dest="dspy_command", required=True)
    ds = steps.add_parser("dataset", help="labelled examples from a torghut replay dump (decisions, triggers, "
                                          "verdicts, fills, signals)")
    ds.add_argument("--dump", required=True, type=Path, help="a `torghut replay dump` file or a directory of them")
    ds.add_argument("--output-dir", required=True, type=Path)
    ds.add_argument("--created-at", required=True, type=zoned_timestamp)
    ds.add_argument("--horizon-bars", type=int, default=5, help="bars ahead the label looks (default 5)")
    ds.add_argument("--slippage-bps", type=float, default=1.0, help="per side (default 1)")
    ds.add_argument("--strong-threshold", type=float, default=0.0025,
                    help="|CAR| at or above which a bar's Janus event is strong (default 0.0025)")
    ds.add_argument("--default-spread-bps", type=float, default=5.0, help="when the bar has no spread (default 5)")
    ds.add_argument("--eval-fraction", type=float, default=0.3, help="share of examples in eval (default 0.3)")

    co = steps.add_parser("compile", help="run a DSPy optimizer over the trade-decision program; write the "
                                          "artifact, the compile result and the observed metrics")
    co.add_argument("--dataset", required=True, type=Path, help="dspy-dataset.json (`dspy dataset`)")
    co.add_argument("--lm-base-url", required=True, help="OpenAI-compatible API base, e.g. http://127.0.0.1:8765/v1")
    co.add_argument("--lm-model", required=True)
    co.add_argument("--lm-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the LM key")
    co.add_argument("--optimizer", required=True, choices=("labeled-few-shot", "bootstrap-few-shot", "mipro"))
    co.add_argument("--seed", required=True, type=int)
    co.add_argument("--output-dir", required=True, type=Path)
    co.add_argument("--created-at", required=True, type=zoned_timestamp)
    co.add_argument("--metric-policy", type=Path, help="dspy-metrics.yaml: its ref is recorded in the metric bundle")
    co.add_argument("--metric", default="exact-action-schema-v1", choices=("exact-action-schema-v1", "janus-hgrm-v1"),
                    help="what the optimizer scores a prediction by (default exact-action-schema-v1)")
    co.add_argument("--max-demos", type=int, default=16)
    co.add_argument("--threads", type=int, default=4, help="concurrent LM calls while measuring (default 4)")
    co.add_argument("--eval-limit", type=int, help="measure on the first N eval examples only (default: all)")

    ev = steps.add_parser("eval", help="judge a compile result's observed metrics against the metric policy")
    ev.add_argument("--compile-result", required=True, type=Path, help="dspy-compile-result.json")
    ev.add_argument("--observed-metrics", required=True, type=Path,
                    help="JSON: schemaValidRate, vetoAlignmentRate, falseVetoRate, fallbackRate, latencyP95Ms")
    ev.add_argument("--baseline", type=Path, help="JSON with the baseline's vetoAlignmentRate (e.g. its eval report)")
    ev.add_argument("--metric-policy", required=True, type=Path, help="dspy-metrics.yaml")
    ev.add_argument("--output-dir", required=True, type=Path)
    ev.add_argument("--created-at", "--evaluated-at", dest="created_at", required=True, type=zoned_timestamp,
                    help="the one time the records carry (ISO-8601 with a zone)")

    pr = steps.add_parser("promote", help="approve or refuse an evaluated artifact for a target")
    pr.add_argument("--eval-report", required=True, type=Path, help="dspy-eval-report.json")
    pr.add_argument("--compile-result", type=Path,
                    help=f"default: {COMPILE_RESULT_FILE} beside the eval report")
    pr.add_argument("--target", required=True, choices=PROMOTION_TARGETS)
    pr.add_argument("--approval-token-ref", help="reference to the approval (ticket, secret name), not the token")
    pr.add_argument("--promoted-by", required=True)
    pr.add_argument("--metric-policy", required=True, type=Path)
    pr.add_argument("--output-dir", required=True, type=Path)
    pr.add_argument("--created-at", required=True, type=zoned_timestamp)

    ar = steps.add_parser("agentrun", help="build (and optionally submit) the AgentRun for a DSPy lane")
    ar.add_argument("--lane", required=True, choices=tuple(LANE_SPECS))
    ar.add_argument("--idempotency-key", required=True)
    ar.add_argument("--repository", required=True)
    ar.add_argument("--base", required=True)
    ar.add_argument("--head", required=True)
    ar.add_argument("--artifact-path", required=True)
    ar.add_argument("--issue-number", default="0")
    ar.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="extra parameter (repeatable)")
    ar.add_argument("--metric-policy", type=Path, help="take namespace, agent, VCS, TTL and secret from its agentrun")
    ar.add_argument("--submit", metavar="JANGAR_BASE_URL", help="POST to <url>/v1/agent-runs")
    ar.add_argument("--token-env", default="AGENTS_API_KEY", help="environment variable holding the bearer token")
    ar.add_argument("--timeout-s", type=float, default=20.0)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    if args.dspy_command == "dataset":
        return _dataset(args), 0
    if args.dspy_command == "compile":
        return _compile(args), 0
    if args.dspy_command == "eval":
        return _eval(args), 0
    if args.dspy_command == "promote":
        return _promote(args), 0
    return _agentrun(args)


def _record(model: type[M], path: Path, what: str) -> M:
    raw = read_json_object(path, what)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: invalid {what}: {describe(exc)}") from None


def _dataset(args: argparse.Namespace) -> dict[str, Any]:
    from .dataset import DatasetConfig, build_dataset, write_dataset

    config = DatasetConfig(horizon_bars=args.horizon_bars, slippage_bps=args.slippage_bps,
                           default_spread_bps=args.default_spread_bps, eval_fraction=args.eval_fraction,
                           strong_threshold=args.strong_threshold)
    document = build_dataset(args.dump, created_at=args.created_at, config=config)
    path, digest = write_dataset(args.output_dir, document)
    return {"command": "dspy dataset", "datasetHash": digest, "dataset": str(path.resolve()),
            "labelRule": document["labelRule"]["name"], "counts": document["counts"]}


def _compile(args: argparse.Namespace) -> dict[str, Any]:
    import sys

    from .compile import compile_program
    from .compile_options import CompileOptions

    policy_ref = load_metric_policy(args.metric_policy).ref if args.metric_policy else None
    options = CompileOptions(optimizer=args.optimizer, seed=args.seed, lm_base_url=args.lm_base_url,
                             lm_model=args.lm_model, lm_api_key=os.environ.get(args.lm_api_key_env) or None,
                             max_demos=args.max_demos, num_threads=args.threads,
                             eval_limit=args.eval_limit, metric=args.metric)
    return compile_program(args.dataset, args.output_dir, options, created_at=args.created_at,
                           metric_policy_ref=policy_ref, progress=lambda m: print(m, file=sys.stderr))


def _eval(args: argparse.Namespace) -> dict[str, Any]:
    policy = load_metric_policy(args.metric_policy)
    compile_result = _record(DSPyCompileResult, args.compile_result, "DSPy compile result")
    observed = read_json_object(args.observed_metrics, "observed metrics")
    baseline = read_json_object(args.baseline, "baseline") if args.baseline else None
    report = evaluate(compile_result, observed, baseline, policy, created_at=args.created_at,
                      observed_origin=str(args.observed_metrics), baseline_origin=str(args.baseline))
    files = write_artifact_bundle(args.output_dir, compile_result, report)
    bundle = bundle_artifacts(compile_result, report)
    return {"command": "dspy eval", "decision": report.promotion_recommendation,
            "gateCompatibility": report.gate_compatibility, "promotionRecommendation": report.promotion_recommendation,
            "reasons": reasons_of(report), "artifactHash": report.artifact_hash, "evalHash": report.eval_hash,
            "manifestHash": bundle.manifest_hash, "outputDir": str(args.output_dir.resolve()), "files": files}


def _promote(args: argparse.Namespace) -> dict[str, Any]:
    policy = load_metric_policy(args.metric_policy)
    report = _record(DSPyEvalReport, args.eval_report, "DSPy eval report")
    compile_path = args.compile_result or args.eval_report.parent / COMPILE_RESULT_FILE
    compile_result = _record(DSPyCompileResult, compile_path, "DSPy compile result")
    record = promote(compile_result, report, policy,
                     PromotionRequest(target=args.target, approval_token_ref=args.approval_token_ref,
                                      promoted_by=args.promoted_by, live_switch_on=live_switch()),
                     created_at=args.created_at)
    if report.artifact_hash != compile_result.artifact_hash:
        files: dict[str, str] = {}  # no bundle joins records of two artifacts; the refusal is printed only
        manifest = None
    else:
        files = write_artifact_bundle(args.output_dir, compile_result, report, record)
        manifest = bundle_artifacts(compile_result, report, record).manifest_hash
    return {"command": "dspy promote", "decision": "approved" if record.approved else "refused",
            "approved": record.approved, "promotionTarget": record.promotion_target, "reasons": record.reasons,
            "artifactHash": record.artifact_hash, "evalHash": record.eval_hash,
            "promotionHash": record.promotion_hash, "manifestHash": manifest,
            "outputDir": str(args.output_dir.resolve()) if files else None, "files": files,
            "bundleFile": BUNDLE_FILE if files else None}


def _agentrun(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    defaults = load_metric_policy(args.metric_policy).agentrun if args.metric_policy else None
    overrides: dict[str, Any] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        overrides[key] = value
    options: dict[str, Any] = {}
    if defaults is not None:
        options = {"namespace": defaults.namespace, "agent_name": defaults.agent_ref_name,
                   "vcs_ref_name": defaults.vcs_ref_name, "vcs_policy_mode": defaults.vcs_policy_mode,
                   "secret_binding_ref": defaults.secret_binding_ref,
                   "ttl_seconds_after_finished": defaults.ttl_seconds_after_finished}
    try:
        payload = build_dspy_agentrun_payload(
            lane=args.lane, idempotency_key=args.idempotency_key, repository=args.repository, base=args.base,
            head=args.head, artifact_path=args.artifact_path, issue_number=args.issue_number,
            parameter_overrides=overrides, **options)
    except AgentRunPayloadError as exc:
        raise InputError(f"agentrun: {exc.code}") from None
    result: dict[str, Any] = {"command": "dspy agentrun", "payload": payload, "submitted": False}
    if not args.submit:
        return result, 0
    from .agentrun import submit_agentrun

    try:
        response = submit_agentrun(args.submit, payload, auth_token=os.environ.get(args.token_env) or None,
                                   timeout_s=args.timeout_s)
    except AgentRunPayloadError as exc:
        raise InputError(f"agentrun --submit: {exc.code}") from None
    except AgentRunSubmitError as exc:
        return {**result, "error": exc.code, "outcomeUnknown": exc.outcome_unknown}, 1
    return {**result, "submitted": True, "response": response}, 0
