"""The DSPy runtime gate (seeds 000/001, upstream 6.6): may a DSPy program run, and in which mode?

Checks run in a fixed order and the first failure decides, so an operator always sees the most
basic problem first:

1. ``mode_valid``        LLM_DSPY_RUNTIME_MODE is one of disabled | shadow | active;
2. ``hash_present``      shadow and active need LLM_DSPY_ARTIFACT_HASH;
3. ``hash_well_formed``  the hash is 64 lowercase hex characters;
4. ``hash_known``        the hash names a known compiled program: one shipped in this package or one
                         in LLM_DSPY_ARTIFACT_DIR (both verified by content at start-up, before the gate);
5. ``transport_fits``    active means the DSPy program decides, so it needs DECISION_TRANSPORT=dspy, and
                         DECISION_TRANSPORT=dspy needs active (shadow beside itself would be meaningless).

``disabled`` needs no hash and checks none. Any refusal is a hard start-up error: an unsupported
state never falls back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from torghut_decision_program import ProgramArtifact

MODE_VAR = "LLM_DSPY_RUNTIME_MODE"
HASH_VAR = "LLM_DSPY_ARTIFACT_HASH"
DIR_VAR = "LLM_DSPY_ARTIFACT_DIR"
TRANSPORT_VAR = "DECISION_TRANSPORT"
DSPY_TRANSPORT = "dspy"

GATE_CHECKS = ("mode_valid", "hash_present", "hash_well_formed", "hash_known", "transport_fits")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class DspyRuntimeMode(StrEnum):
    DISABLED = "disabled"
    SHADOW = "shadow"
    ACTIVE = "active"


#: A verified compiled DSPy program, identified by the hash of its content (``torghut_decision_program``).
KnownArtifact: TypeAlias = ProgramArtifact


@dataclass(frozen=True)
class GateOpen:
    mode: DspyRuntimeMode
    artifact: KnownArtifact | None

    @property
    def runs_shadow(self) -> bool:
        return self.mode is DspyRuntimeMode.SHADOW


@dataclass(frozen=True)
class GateRefusal:
    check: str
    variable: str
    reason_code: str
    message: str


def evaluate_dspy_gate(mode: str | None, artifact_hash: str | None, known: Mapping[str, KnownArtifact],
                       *, transport: str) -> GateOpen | GateRefusal:
    normalized = (mode or "").strip().lower()
    try:
        runtime_mode = DspyRuntimeMode(normalized)
    except ValueError:
        return GateRefusal("mode_valid", MODE_VAR, "dspy_runtime_mode_unsupported",
                           f"{MODE_VAR}={mode!r} is not one of disabled, shadow, active")
    artifact: KnownArtifact | None = None
    if runtime_mode is not DspyRuntimeMode.DISABLED:
        if not artifact_hash:
            return GateRefusal("hash_present", HASH_VAR, "dspy_artifact_hash_missing",
                               f"{HASH_VAR} is required when {MODE_VAR}={runtime_mode.value}")
        if not _HASH.fullmatch(artifact_hash):
            return GateRefusal("hash_well_formed", HASH_VAR, "dspy_artifact_hash_malformed",
                               f"{HASH_VAR} must be 64 lowercase hex characters (a sha256), got {artifact_hash!r}")
        artifact = known.get(artifact_hash)
        if artifact is None:
            return GateRefusal("hash_known", HASH_VAR, "dspy_artifact_hash_unknown",
                               f"{HASH_VAR}={artifact_hash} is not a known compiled program, shipped or in "
                               f"{DIR_VAR} (known: {', '.join(sorted(known)) or 'none'})")
    if (runtime_mode is DspyRuntimeMode.ACTIVE) != (transport == DSPY_TRANSPORT):
        return GateRefusal("transport_fits", TRANSPORT_VAR, "dspy_runtime_transport_mismatch",
                           f"{MODE_VAR}=active and {TRANSPORT_VAR}=dspy go together "
                           f"(got {MODE_VAR}={runtime_mode.value}, {TRANSPORT_VAR}={transport})")
    return GateOpen(runtime_mode, artifact)
