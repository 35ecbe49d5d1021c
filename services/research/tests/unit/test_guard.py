"""The orchestration guard: upstream's examples, each refusal in its order, and the CLI's contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from torghut_research.cli import load_guard_policy, main
from torghut_research.guard.rules import GuardError, Transition, check_transition, evaluate_failure

POLICY = load_guard_policy(None)
STATE = {"candidateId": "cand-abc123", "runId": "run-abc123", "activeStage": "gate-evaluation", "paused": False}


def allowed(tmp_path: Path, **changes: Any) -> Transition:
    artifact = tmp_path / "report.json"
    artifact.write_text("{}")
    values: dict[str, Any] = {"candidate_id": "cand-abc123", "run_id": "run-abc123", "from_stage": "gate-evaluation",
                              "to_stage": "shadow-paper", "previous_artifact": artifact, "previous_gate_passed": True,
                              "risk_controls_passed": True, "execution_controls_passed": True}
    return Transition(**{**values, **changes})


def test_the_readme_transition_is_legal_under_the_shipped_policy(tmp_path: Path) -> None:
    assert check_transition(POLICY, STATE, allowed(tmp_path)) == {
        "allowed": True, "reason": "transition_allowed", "nextAction": "proceed", "lane": "lane-e",
        "toStage": "shadow-paper"}


@pytest.mark.parametrize(("state", "changes", "reason", "action"), [
    ({"activeStage": "backtest-robustness"}, {}, "active_stage_mismatch:backtest-robustness", "halt"),
    ({"runId": None}, {}, "missing_run_id", "halt"),
    ({}, {"run_id": "run-other1"}, "run_mismatch:run-abc123", "halt"),
    ({"activeStage": None}, {"from_stage": None}, "missing_source_stage", "halt"),
    ({}, {"to_stage": "live-ramp"}, "illegal_transition:gate-evaluation->live-ramp", "halt"),
    ({"candidateId": None}, {}, "missing_candidate_id", "halt"),
    ({}, {"candidate_id": "cand-other1"}, "candidate_mismatch", "halt"),
    ({"paused": True}, {}, "candidate_paused_for_review", "human_review"),
    ({}, {"previous_artifact": None}, "missing_previous_artifact", "halt"),
    ({}, {"previous_gate_passed": False}, "previous_gate_failed", "rollback"),
    ({}, {"risk_controls_passed": False}, "risk_controls_not_passed", "rollback"),
    ({}, {"execution_controls_passed": False}, "execution_controls_not_passed", "rollback"),
    ({}, {"mode": "emergency"}, "mutable_action_requires_gitops_or_ticketed_emergency", "halt"),
])
def test_refusals(tmp_path: Path, state: dict[str, Any], changes: dict[str, Any], reason: str, action: str) -> None:
    result = check_transition(POLICY, {**STATE, **state}, allowed(tmp_path, **changes))
    assert result == {"allowed": False, "reason": reason, "nextAction": action}


def test_an_emergency_with_a_ticket_may_take_a_mutable_step(tmp_path: Path) -> None:
    assert check_transition(POLICY, STATE, allowed(tmp_path, mode="emergency", emergency_ticket="INC-1"))["allowed"]


def test_a_lane_gate_report_that_denied_promotion_blocks_the_paper_stage(tmp_path: Path) -> None:
    report = tmp_path / "gate-evaluation.json"
    report.write_text(json.dumps({"promotion_decision": {"promotion_allowed": False}}))
    result = check_transition(POLICY, STATE, allowed(tmp_path, previous_artifact=report))
    assert result["reason"] == "previous_gate_report_not_promotable"
    report.write_text(json.dumps({"promotion_decision": {"promotion_allowed": True}}))
    assert check_transition(POLICY, STATE, allowed(tmp_path, previous_artifact=report))["allowed"]


@pytest.mark.parametrize("changes", [{"candidate_id": "Bad_ID"}, {"run_id": "x"}, {"to_stage": "nowhere"},
                                     {"from_stage": "nowhere"}])
def test_input_that_cannot_be_judged_is_an_error(tmp_path: Path, changes: dict[str, Any]) -> None:
    with pytest.raises(GuardError):
        check_transition(POLICY, STATE, allowed(tmp_path, **changes))


def test_transient_failures_back_off_then_pause() -> None:
    backoffs = [evaluate_failure(POLICY, {}, stage="candidate-build", failure_class="transient", attempt=a)
                for a in (1, 2, 3, 4)]
    assert [b["nextBackoffSeconds"] for b in backoffs] == [15, 30, 60, 120]
    assert {b["action"] for b in backoffs} == {"retry"}
    worn = {"failureCounts": {"candidate-build": 4}}
    assert evaluate_failure(POLICY, worn, stage="candidate-build", failure_class="transient", attempt=5) == {
        "action": "pause_for_review", "stage": "candidate-build", "attempt": 5, "stageFailures": 5,
        "reason": "transient_failure_threshold_reached"}
    fresh = evaluate_failure(POLICY, {}, stage="candidate-build", failure_class="transient", attempt=5)
    assert (fresh["action"], fresh["reason"]) == ("fail", "transient_non_retryable")


def test_other_failure_classes_never_retry() -> None:
    assert evaluate_failure(POLICY, {}, stage="gate-evaluation", failure_class="policy", attempt=1)["action"] == (
        "pause_for_review")
    first = evaluate_failure(POLICY, {}, stage="gate-evaluation", failure_class="spec", attempt=1)
    assert (first["action"], first["reason"]) == ("fail", "spec_non_retryable")
    with pytest.raises(GuardError):
        evaluate_failure(POLICY, {}, stage="gate-evaluation", failure_class="spec", attempt=0)
    with pytest.raises(GuardError):
        evaluate_failure(POLICY, {"failureCounts": {"gate-evaluation": "two"}}, stage="gate-evaluation",
                         failure_class="spec", attempt=1)


# -- the command line -------------------------------------------------------------------------------------
def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_prints_sorted_json_and_exits_0_for_a_denial(capsys: pytest.CaptureFixture[str],
                                                             write: Callable[[str, Any], Path]) -> None:
    state = write("state.json", {**STATE, "activeStage": "candidate-build"})
    code, out, _ = run(capsys, "guard", "check-transition", "--state", str(state), "--candidate-id", "cand-abc123",
                       "--run-id", "run-abc123", "--from-stage", "candidate-build", "--to-stage", "shadow-paper")
    assert code == 0
    assert json.loads(out) == {"allowed": False, "reason": "illegal_transition:candidate-build->shadow-paper",
                               "nextAction": "halt"}
    assert out == json.dumps(json.loads(out), sort_keys=True, indent=2) + "\n"
    code, out, _ = run(capsys, "guard", "evaluate-failure", "--state", str(state), "--stage", "candidate-build",
                       "--failure-class", "transient", "--attempt", "2")
    assert code == 0 and json.loads(out)["nextBackoffSeconds"] == 30


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "the state is not valid JSON"), ("[1]", "must be a JSON object")])
def test_bad_state_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], write: Callable[[str, Any], Path],
                                          content: str, message: str) -> None:
    state = write("state.json", content)
    code, out, err = run(capsys, "guard", "evaluate-failure", "--state", str(state), "--stage", "candidate-build",
                         "--failure-class", "transient", "--attempt", "1")
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_a_malformed_policy_names_the_key(capsys: pytest.CaptureFixture[str],
                                          write: Callable[[str, Any], Path]) -> None:
    policy = write("policy.yaml", "schemaVersion: torghut-v3-orchestration-policy-v1\nstages: []\ntransitions: {}\n"
                                  "failurePolicies: {}\ntypo: 1\n")
    state = write("state.json", STATE)
    code, _, err = run(capsys, "guard", "--policy", str(policy), "evaluate-failure", "--state", str(state),
                       "--stage", "x", "--failure-class", "spec", "--attempt", "1")
    assert code == 2 and "typo: unknown key" in err
