"""The DSPy runtime gate: its checks run in the documented order and the first failure decides."""

from __future__ import annotations

import pytest
from torghut_decision_client.domain.gate import (
    GATE_CHECKS,
    DspyRuntimeMode,
    GateOpen,
    GateRefusal,
    KnownArtifact,
    evaluate_dspy_gate,
)
from torghut_decision_program.shipped import shipped_artifacts

KNOWN = "a" * 64
ARTIFACT = KnownArtifact(artifact_hash=KNOWN, program_name="p", signature_version="v1", state={})
REGISTRY = {KNOWN: ARTIFACT}


@pytest.mark.parametrize(("mode", "artifact_hash", "transport", "expected"), [
    # disabled needs (and checks) no hash
    ("disabled", None, "decision-engine", DspyRuntimeMode.DISABLED),
    ("disabled", "not-a-hash", "chat-completions", DspyRuntimeMode.DISABLED),
    (" DISABLED ", None, "decision-engine", DspyRuntimeMode.DISABLED),
    # shadow runs beside another transport
    ("shadow", KNOWN, "decision-engine", DspyRuntimeMode.SHADOW),
    ("shadow", KNOWN, "chat-completions", DspyRuntimeMode.SHADOW),
    # active: the DSPy program is the transport
    ("active", KNOWN, "dspy", DspyRuntimeMode.ACTIVE),
])
def test_the_gate_opens(mode: str, artifact_hash: str | None, transport: str, expected: DspyRuntimeMode) -> None:
    gate = evaluate_dspy_gate(mode, artifact_hash, REGISTRY, transport=transport)
    assert isinstance(gate, GateOpen)
    assert gate.mode is expected
    assert gate.artifact == (None if expected is DspyRuntimeMode.DISABLED else ARTIFACT)
    assert gate.runs_shadow == (expected is DspyRuntimeMode.SHADOW)


@pytest.mark.parametrize(("mode", "artifact_hash", "transport", "check", "variable", "code"), [
    # 1. the mode must be supported, whatever else is wrong
    ("enabled", None, "decision-engine", "mode_valid", "LLM_DSPY_RUNTIME_MODE", "dspy_runtime_mode_unsupported"),
    ("", "zz", "dspy", "mode_valid", "LLM_DSPY_RUNTIME_MODE", "dspy_runtime_mode_unsupported"),
    (None, None, "decision-engine", "mode_valid", "LLM_DSPY_RUNTIME_MODE", "dspy_runtime_mode_unsupported"),
    # 2. shadow/active need a hash (checked before its form, and before the transport)
    ("shadow", None, "decision-engine", "hash_present", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_missing"),
    ("active", "", "decision-engine", "hash_present", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_missing"),
    # 3. well formed: 64 lowercase hex
    ("shadow", "abc123", "decision-engine", "hash_well_formed", "LLM_DSPY_ARTIFACT_HASH",
     "dspy_artifact_hash_malformed"),
    ("active", "A" * 64, "dspy", "hash_well_formed", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_malformed"),
    ("active", "g" * 64, "dspy", "hash_well_formed", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_malformed"),
    ("shadow", "a" * 65, "decision-engine", "hash_well_formed", "LLM_DSPY_ARTIFACT_HASH",
     "dspy_artifact_hash_malformed"),
    # 4. known: a well-formed hash of a program we do not ship
    ("shadow", "b" * 64, "decision-engine", "hash_known", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_unknown"),
    ("active", "b" * 64, "chat-completions", "hash_known", "LLM_DSPY_ARTIFACT_HASH", "dspy_artifact_hash_unknown"),
    # 5. the mode must fit the transport
    ("active", KNOWN, "decision-engine", "transport_fits", "DECISION_TRANSPORT", "dspy_runtime_transport_mismatch"),
    ("shadow", KNOWN, "dspy", "transport_fits", "DECISION_TRANSPORT", "dspy_runtime_transport_mismatch"),
    ("disabled", None, "dspy", "transport_fits", "DECISION_TRANSPORT", "dspy_runtime_transport_mismatch"),
])
def test_the_first_failing_check_refuses(mode: str | None, artifact_hash: str | None, transport: str, check: str,
                                         variable: str, code: str) -> None:
    gate = evaluate_dspy_gate(mode, artifact_hash, REGISTRY, transport=transport)
    assert isinstance(gate, GateRefusal)
    assert (gate.check, gate.variable, gate.reason_code) == (check, variable, code)
    assert variable in gate.message


def test_the_checks_are_documented_in_the_order_they_run() -> None:
    assert GATE_CHECKS == ("mode_valid", "hash_present", "hash_well_formed", "hash_known", "transport_fits")


def test_the_shipped_artifacts_verify_and_one_opens_the_gate() -> None:
    known = shipped_artifacts()
    assert known, "the package ships at least one compiled program"
    for digest, artifact in known.items():
        assert digest == artifact.artifact_hash
        gate = evaluate_dspy_gate("shadow", digest, known, transport="decision-engine")
        assert isinstance(gate, GateOpen) and gate.artifact is artifact
