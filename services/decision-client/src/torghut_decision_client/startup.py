"""Start-up checks that span several variables; each failure is a ``ConfigError`` naming the variable.

The DSPy runtime gate is evaluated here, once, in its documented order (``domain.gate``): a
service whose DSPy state is unsupported does not start, rather than starting with a default.
"""

from __future__ import annotations

from collections.abc import Mapping

from torghut_runtime import ConfigError

from .domain.gate import DspyRuntimeMode, GateOpen, GateRefusal, KnownArtifact, evaluate_dspy_gate
from .dspy_artifacts import ArtifactIntegrityError, known_artifacts
from .settings import DecisionClientSettings


def check_startup(settings: DecisionClientSettings,
                  known: Mapping[str, KnownArtifact] | None = None) -> GateOpen:
    """The open DSPy gate for these settings, or ``ConfigError``."""
    if known is None:
        try:
            known = known_artifacts()
        except ArtifactIntegrityError as exc:
            raise ConfigError(f"LLM_DSPY_ARTIFACT_HASH: the shipped artifacts are corrupt: {exc}") from None
    gate = evaluate_dspy_gate(settings.llm_dspy_runtime_mode, settings.llm_dspy_artifact_hash, known,
                              transport=settings.decision_transport)
    if isinstance(gate, GateRefusal):
        raise ConfigError(f"{gate.variable}: {gate.message} (DSPy gate check {gate.check} failed: {gate.reason_code})")
    if settings.decision_transport == "chat-completions" and not settings.jangar_base_url:
        raise ConfigError("JANGAR_BASE_URL is required when DECISION_TRANSPORT=chat-completions")
    if gate.mode is not DspyRuntimeMode.DISABLED and not settings.jangar_base_url:
        raise ConfigError(f"JANGAR_BASE_URL is required when LLM_DSPY_RUNTIME_MODE={gate.mode.value} "
                          "(the DSPy program's LM is Jangar's OpenAI-compatible endpoint)")
    return gate
