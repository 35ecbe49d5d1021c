"""The AgentRun request for a DSPy lane: the catalog, string-only parameters, the exact error codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from torghut_research.dspy.agentrun import (
    LANE_SPECS,
    AgentRunPayloadError,
    build_dspy_agentrun_payload,
    sanitize_idempotency_key,
    submit_url,
)

BASE: dict[str, Any] = {"idempotency_key": "dspy-compile-2026-02-12", "repository": "proompteng/torghut",
                        "base": "main", "head": "codex/dspy-compile", "artifact_path": "artifacts/dspy/run-1"}


def build(**changes: Any) -> dict[str, Any]:
    return build_dspy_agentrun_payload(**{"lane": "compile", **BASE, **changes})


def test_the_payload_has_jangars_shape() -> None:
    assert build() == {
        "namespace": "agents",
        "idempotencyKey": "dspy-compile-2026-02-12",
        "agentRef": {"name": "codex-agent"},
        "implementationSpecRef": {"name": "torghut-dspy-compile-mipro-v1"},
        "runtime": {"type": "job"},
        "vcsRef": {"name": "github"},
        "vcsPolicy": {"required": True, "mode": "read-write"},
        "parameters": {"artifactPath": "artifacts/dspy/run-1", "base": "main", "head": "codex/dspy-compile",
                       "issueNumber": "0", "repository": "proompteng/torghut"},
        "policy": {"secretBindingRef": "codex-github-token"},
        "ttlSecondsAfterFinished": 14400,
    }


@pytest.mark.parametrize(("lane", "spec"), [
    ("dataset-build", "torghut-dspy-dataset-build-v1"), ("compile", "torghut-dspy-compile-mipro-v1"),
    ("eval", "torghut-dspy-eval-v1"), ("gepa-experiment", "torghut-dspy-gepa-experiment-v1"),
    ("promote", "torghut-dspy-promote-artifact-v1"),
])
def test_each_lane_has_its_implementation_spec(lane: str, spec: str) -> None:
    assert LANE_SPECS[lane] == spec
    assert build(lane=lane)["implementationSpecRef"] == {"name": spec}


def test_overrides_are_strings_stripped_and_may_replace_base_keys() -> None:
    payload = build(issue_number=20, parameter_overrides={
        "seed": 7, "budget": 0.00001, "exact": Decimal("2.50"), "dryRun": True, "note": "  hi  ", "base": "release"})
    assert payload["parameters"] == {
        "artifactPath": "artifacts/dspy/run-1", "base": "release", "budget": "0.00001", "dryRun": "true",
        "exact": "2.5", "head": "codex/dspy-compile", "issueNumber": "20", "note": "hi",
        "repository": "proompteng/torghut", "seed": "7"}
    assert all(isinstance(v, str) for v in payload["parameters"].values())


@pytest.mark.parametrize(("changes", "code"), [
    ({"idempotency_key": ""}, "idempotency_key_required"),
    ({"idempotency_key": "   "}, "idempotency_key_required"),
    ({"lane": "train"}, "unknown_dspy_lane:train"),
    ({"repository": " "}, "repository_base_head_required"),
    ({"base": ""}, "repository_base_head_required"),
    ({"head": ""}, "repository_base_head_required"),
    ({"artifact_path": ""}, "artifact_path_required"),
    ({"parameter_overrides": {"seed": None}}, "parameter_seed_must_be_non_null"),
    ({"parameter_overrides": {"grid": {"a": 1}}}, "parameter_grid_must_be_string_coercible_scalar"),
    ({"parameter_overrides": {"grid": [1, 2]}}, "parameter_grid_must_be_string_coercible_scalar"),
    ({"parameter_overrides": {"grid": (1, 2)}}, "parameter_grid_must_be_string_coercible_scalar"),
    ({"parameter_overrides": {"grid": {1, 2}}}, "parameter_grid_must_be_string_coercible_scalar"),
    ({"parameter_overrides": {"x": float("nan")}}, "parameter_x_must_be_string_coercible_scalar"),
    ({"parameter_overrides": {"note": "  "}}, "parameter_note_must_be_non_empty"),
    ({"parameter_overrides": {"head": ""}}, "parameter_head_must_be_non_empty"),
    ({"parameter_overrides": {" ": "x"}}, "parameter_key_required"),
    ({"ttl_seconds_after_finished": -1}, "ttl_seconds_after_finished_must_be_non_negative"),
    ({"secret_binding_ref": ""}, "secret_binding_ref_required"),
    ({"namespace": ""}, "namespace_required"),
    ({"vcs_policy_mode": "admin"}, "vcs_policy_mode_must_be_read_write_or_read_only"),
])
def test_bad_requests_fail_with_their_code(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(AgentRunPayloadError) as error:
        build(**changes)
    assert error.value.code == code == str(error.value)


def test_idempotency_keys_are_sanitised_without_collisions() -> None:
    assert sanitize_idempotency_key("dspy_run-1.a") == "dspy_run-1.a"
    slashed, dashed = sanitize_idempotency_key("a/b"), sanitize_idempotency_key("a-b")
    assert slashed != dashed and slashed.startswith("a-b-") and len(slashed) == 14
    long = sanitize_idempotency_key("k" * 100)
    assert len(long) == 63 and long.startswith("k" * 52 + "-")
    assert sanitize_idempotency_key("k" * 63) == "k" * 63
    assert build(idempotency_key="run 2026/02/12")["idempotencyKey"] == sanitize_idempotency_key("run 2026/02/12")


def test_the_submit_url() -> None:
    assert submit_url("http://jangar:8080") == "http://jangar:8080/v1/agent-runs"
    assert submit_url("https://jangar/api/") == "https://jangar/api/v1/agent-runs"
    assert submit_url("http://jangar/v1/agent-runs") == "http://jangar/v1/agent-runs"
    with pytest.raises(AgentRunPayloadError, match="jangar_base_url_must_be_http_or_https"):
        submit_url("ftp://jangar")
