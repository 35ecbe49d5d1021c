"""``torghut-research``: the lane, the orchestration guard and the DSPy artifact commands (``dspy``).

Exit codes: 0 when the command ran and decided (a denied promotion or an illegal transition is a
decision, read it from the JSON on stdout); 2 with one line on stderr for input that cannot be
used; 3 when a lane run decided and wrote its directory but could not publish its event
(``--kafka-bootstrap``). Output JSON has sorted keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .argtypes import zoned_timestamp
from .config import describe
from .dspy.cli import add_dspy_parser
from .dspy.cli import run as run_dspy
from .errors import InputError, read_json_object
from .guard.rules import GuardError, OrchestrationPolicy, Transition, check_transition, evaluate_failure


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="torghut-research", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    lane = commands.add_parser("lane", help="walk-forward -> gates -> paper candidate")
    lane.add_argument("--signals", required=True, metavar="FILE|DIR|URL",
                      help="JSONL of signals, a replay dump file or directory of dumps, "
                           "kafka://HOST:PORT/TOPIC[?since=ISO8601&until=ISO8601] (a window of the topic, "
                           "by record time; since inclusive, until exclusive), or "
                           "clickhouse://HOST:PORT/DATABASE[?table=ta_signals&since=ISO8601&until=ISO8601"
                           "&user=..&password=..] (the signal table, by event_ts); times need a zone, e.g. "
                           "2026-02-12T14:30:00Z")
    lane.add_argument("--strategy-config", required=True, type=Path, help="strategy book or research config (YAML)")
    lane.add_argument("--gate-policy", required=True, type=Path, help="gate policy (JSON)")
    lane.add_argument("--output-dir", required=True, type=Path)
    lane.add_argument("--evidence", type=Path, help="evidence file (JSON): what the inputs cannot show")
    lane.add_argument("--baseline-config", type=Path, help="baseline book (default: the reference book)")
    lane.add_argument("--promotion-target", choices=("shadow", "paper", "live"), default="paper")
    lane.add_argument("--approval-token", help="needed for live, with the policy and the live switch")
    lane.add_argument("--kafka-bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
                      metavar="HOST:PORT", help="publish the run's summary to torghut.research.lane-runs.v1 there "
                                                "(default: KAFKA_BOOTSTRAP_SERVERS; unset: publish nothing)")
    lane.add_argument("--topic-prefix", default=os.environ.get("TOPIC_PREFIX", ""),
                      help="the suite's topic prefix (default: TOPIC_PREFIX)")
    lane.add_argument("--evaluated-at", type=zoned_timestamp,
                      help="the one time every artifact carries (default: the last signal's event time)")

    guard = commands.add_parser("guard", help="orchestration guard")
    guard.add_argument("--policy", type=Path, help="orchestration policy YAML (default: the shipped one)")
    checks = guard.add_subparsers(dest="check", required=True)
    transition = checks.add_parser("check-transition")
    transition.add_argument("--state", required=True, type=Path)
    transition.add_argument("--candidate-id", required=True)
    transition.add_argument("--run-id", required=True)
    transition.add_argument("--from-stage")
    transition.add_argument("--to-stage", required=True)
    transition.add_argument("--previous-artifact", type=Path)
    for flag in ("--previous-gate-passed", "--risk-controls-passed", "--execution-controls-passed"):
        transition.add_argument(flag, action="store_true")
    transition.add_argument("--mode", choices=("gitops", "emergency"), default="gitops")
    transition.add_argument("--emergency-ticket")
    failure = checks.add_parser("evaluate-failure")
    failure.add_argument("--state", required=True, type=Path)
    failure.add_argument("--stage", required=True)
    failure.add_argument("--failure-class", required=True, choices=("transient", "deterministic", "spec", "policy"))
    failure.add_argument("--attempt", required=True, type=int)
    add_dspy_parser(commands)
    return root


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    code = 0
    try:
        if args.command == "dspy":
            result, code = run_dspy(args)
        elif args.command == "lane":
            result, code = _lane(args)
        else:
            result = _guard(args)
    except (InputError, GuardError) as exc:
        print(f"torghut-research: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(result, sort_keys=True, indent=2))
    if code:
        raise SystemExit(code)


def _lane(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from .lane import read_inputs, run_lane

    inputs = read_inputs(signals=args.signals, strategy_config=args.strategy_config, gate_policy=args.gate_policy,
                         evidence=args.evidence, baseline_config=args.baseline_config, target=args.promotion_target,
                         approval_token=args.approval_token, evaluated_at=args.evaluated_at)
    result = run_lane(inputs, args.output_dir)
    if args.kafka_bootstrap is None:
        return {**result, "published": None}, 0
    from torghut_contracts import topics

    from .publication import PublishError, lane_run_event, publish_lane_run

    topic = args.topic_prefix + topics.LANE_RUNS.name
    try:
        asyncio.run(publish_lane_run(args.kafka_bootstrap, topic, lane_run_event(result)))
    except ValidationError as exc:  # the run's summary does not fit the topic's contract: say so, send nothing
        print(f"torghut-research: the run is decided and written, but its event does not fit "
              f"{topics.LANE_RUNS.name}: {'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return {**result, "published": None}, 3
    except PublishError as exc:
        print(f"torghut-research: the run is decided and written, but its event was not published: {exc}",
              file=sys.stderr)
        return {**result, "published": None}, 3
    return {**result, "published": topic}, 0


def _guard(args: argparse.Namespace) -> dict[str, Any]:
    policy = load_guard_policy(args.policy)
    state = read_json_object(args.state, "state")
    if args.check == "check-transition":
        return check_transition(policy, state, Transition(
            candidate_id=args.candidate_id, run_id=args.run_id, to_stage=args.to_stage, from_stage=args.from_stage,
            previous_artifact=args.previous_artifact, previous_gate_passed=args.previous_gate_passed,
            risk_controls_passed=args.risk_controls_passed, execution_controls_passed=args.execution_controls_passed,
            mode=args.mode, emergency_ticket=args.emergency_ticket))
    return evaluate_failure(policy, state, stage=args.stage, failure_class=args.failure_class, attempt=args.attempt)


def load_guard_policy(path: Path | None) -> OrchestrationPolicy:
    origin = str(path) if path else "shipped orchestration-policy.yaml"
    try:
        text = path.read_text() if path else resources.files("torghut_research.guard").joinpath(
            "orchestration-policy.yaml").read_text()
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise GuardError(f"{origin}: cannot read the policy: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise GuardError(f"{origin}: not valid YAML: {exc}") from None
    try:
        return OrchestrationPolicy.model_validate(raw)
    except ValidationError as exc:
        raise GuardError(f"{origin}: invalid orchestration policy: {describe(exc)}") from None
