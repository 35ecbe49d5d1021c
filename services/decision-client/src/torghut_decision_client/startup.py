"""Start-up checks that span several variables; each failure is a ``ConfigError`` naming the variable.

The known compiled programs are the ones shipped in ``torghut_decision_program.shipped`` plus, when
``LLM_DSPY_ARTIFACT_DIR`` is set, every ``<sha256>.json`` in that directory. Each is read once,
here, and its hash recomputed from its content (``torghut_decision_program.shipped.known_programs``):
a file that does not hash to its name, is not an artifact of this program, or is not named by a
hash stops start-up with a ``ConfigError`` naming ``LLM_DSPY_ARTIFACT_DIR`` and the file, whatever
the mode. The program then runs from the verified in-memory state; a file changed after start-up
has no effect on the running service and is refused at the next start.

The DSPy runtime gate is then evaluated, once, in its documented order (``domain.gate``): a
service whose DSPy state is unsupported does not start, rather than starting with a default.
"""

from __future__ import annotations

from collections.abc import Mapping

from torghut_decision_program import ArtifactError
from torghut_decision_program.shipped import ArtifactIntegrityError, known_programs
from torghut_runtime import ConfigError

from .domain.gate import DIR_VAR, HASH_VAR, DspyRuntimeMode, GateOpen, GateRefusal, KnownArtifact, evaluate_dspy_gate
from .settings import DecisionClientSettings


def load_known_artifacts(settings: DecisionClientSettings) -> dict[str, KnownArtifact]:
    """The shipped artifacts and those of ``LLM_DSPY_ARTIFACT_DIR``, all verified, by hash; or ``ConfigError``."""
    try:
        return known_programs(settings.llm_dspy_artifact_dir)
    except ArtifactIntegrityError as exc:
        raise ConfigError(f"{HASH_VAR}: the shipped artifacts are corrupt: {exc}") from None
    except ArtifactError as exc:
        raise ConfigError(f"{DIR_VAR}={settings.llm_dspy_artifact_dir}: refused: {exc}") from None


def check_startup(settings: DecisionClientSettings,
                  known: Mapping[str, KnownArtifact] | None = None) -> GateOpen:
    """The open DSPy gate for these settings, or ``ConfigError``."""
    if known is None:
        known = load_known_artifacts(settings)
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
