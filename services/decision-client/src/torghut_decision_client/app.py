"""Assembly: settings -> DSPy gate -> transports -> handlers and the claim worker on the runtime."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import trace
from torghut_contracts import topics
from torghut_runtime import ConfigError, ServiceRuntime
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, wire_flags

from .adapters.claims import ClaimLease
from .adapters.handlers import DecisionHandlers
from .adapters.intake import TriggerIntake
from .adapters.transport import DecisionTransport
from .adapters.worker import DecisionWorker
from .domain.claims import CLAIM_LEASE_S
from .domain.gate import DspyRuntimeMode, GateOpen, KnownArtifact
from .metrics import DecisionMetrics
from .settings import DecisionClientSettings
from .startup import check_startup

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class DecisionClientApp:
    runtime: ServiceRuntime
    handlers: DecisionHandlers
    intake: TriggerIntake
    gate: GateOpen
    worker: DecisionWorker
    flags: FeatureFlags | None = None

    async def aclose(self) -> None:
        """Close the transports' HTTP clients (after the runtime stopped: in-flight runs finish first)."""
        await self.handlers.transport.aclose()
        if self.handlers.shadow is not None:
            await self.handlers.shadow.aclose()
        if self.handlers.dspy_active is not None:
            await self.handlers.dspy_active.aclose()


def build_transport(settings: DecisionClientSettings, gate: GateOpen, *, dspy_lm: Any = None,
                    extra_headers: Mapping[str, str] | None = None,
                    metrics: DecisionMetrics | None = None) -> DecisionTransport:
    if settings.decision_transport == "decision-engine":
        from .adapters.engine_client import DecisionEngineClient, EngineClientConfig

        client = DecisionEngineClient(EngineClientConfig.from_settings(settings), extra_headers=extra_headers)
        if metrics is not None and client.batcher is not None:
            client.batcher.observe_runs = metrics.engine_batch_runs.observe
        return client
    if settings.decision_transport == "chat-completions":
        from .adapters.chat_client import ChatCompletionsClient

        return ChatCompletionsClient.from_settings(settings, extra_headers=extra_headers)
    assert gate.artifact is not None and gate.mode is DspyRuntimeMode.ACTIVE, "the gate checked it"
    return _dspy_program(settings, gate.artifact, mode="dspy-active", lm=dspy_lm)


def _dspy_program(settings: DecisionClientSettings, artifact: KnownArtifact, *, mode: str,
                  lm: Any) -> DecisionTransport:
    from .adapters.dspy_program import DspyDecisionProgram, jangar_lm

    if lm is None:
        assert settings.jangar_base_url is not None, "checked at start-up"
        from dspy.utils.exceptions import LMConfigurationError

        try:
            lm = jangar_lm(base_url=settings.jangar_base_url, model=settings.llm_model,
                           api_key=settings.jangar_api_key.get_secret_value() if settings.jangar_api_key else None,
                           timeout_s=settings.llm_dspy_timeout_seconds, max_tokens=settings.llm_max_tokens,
                           temperature=settings.llm_temperature)
        except LMConfigurationError as exc:  # dspy refuses e.g. temperature 0 for a reasoning model
            raise ConfigError(f"LLM_MODEL, LLM_TEMPERATURE, LLM_MAX_TOKENS: dspy refuses this model's "
                              f"settings: {exc}") from None
    return DspyDecisionProgram(artifact, lm, timeout_s=settings.llm_dspy_timeout_seconds, mode=mode)


def build_app(settings: DecisionClientSettings, *, transport: DecisionTransport | None = None,
              dspy_lm: Any = None, known_artifacts: Mapping[str, KnownArtifact] | None = None,
              configure_logs: bool = True, runtime_kwargs: Mapping[str, Any] | None = None,
              flag_settings: FeatureFlagSettings | None = None) -> DecisionClientApp:
    """Everything wired; ``transport`` and ``dspy_lm`` replace the configured ones (tests).

    Flags (``flag_settings``, default the environment): LEAN-enabled and DSPy-active are read per
    trigger. DSPy active needs a compiled program at start-up: with LLM_DSPY_RUNTIME_MODE=shadow the flag
    makes the program the primary transport (no shadow then); with active, the flag off holds
    (dspy_runtime_not_active); with disabled there is no program and the flag changes nothing."""
    gate = check_startup(settings, known_artifacts)
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs,
                             **dict(runtime_kwargs or {}))
    flags = wire_flags(runtime, "decision-client", settings, flag_settings)
    metrics = DecisionMetrics(runtime.registry)
    primary = transport or build_transport(settings, gate, dspy_lm=dspy_lm, metrics=metrics)
    shadow = None
    if gate.runs_shadow:
        assert gate.artifact is not None
        shadow = _dspy_program(settings, gate.artifact, mode="dspy-shadow", lm=dspy_lm)
    dspy_active = None
    if flags.enabled and gate.runs_shadow:
        assert gate.artifact is not None
        dspy_active = _dspy_program(settings, gate.artifact, mode="dspy-active", lm=dspy_lm)
    handlers = DecisionHandlers(settings, primary, shadow=shadow, metrics=metrics,
                                flags=flags, dspy_active=dspy_active)
    runtime.produces(topics.DECISIONS)
    runtime.consume(topics.ACCOUNT_SNAPSHOTS, handlers.on_snapshot, claim_last=True)
    # A trigger's handler only claims it (a fetch's triggers in one transaction, read and claimed in two
    # statements); the claim worker asks the engine with no connection held.
    intake = TriggerIntake(settings.torghut_account, handlers.metrics)
    runtime.consume(topics.TRIGGERS, intake, group_commit=True)
    worker = build_worker(settings, runtime, handlers, intake)
    return DecisionClientApp(runtime=runtime, handlers=handlers, intake=intake, gate=gate, worker=worker, flags=flags)


def build_worker(settings: DecisionClientSettings, runtime: ServiceRuntime, handlers: DecisionHandlers,
                 intake: TriggerIntake) -> DecisionWorker:
    """The claim worker, started and drained with the runtime; woken by every committed claim."""

    worker = DecisionWorker(
        runtime.engine, handlers, runtime.deferred_outputs(topics.TRIGGERS),
        concurrency=settings.decision_client_workers, lease_s=CLAIM_LEASE_S,
        retry_backoff_s=settings.consumer_retry_backoff_ms / 1000, max_attempts=settings.consumer_max_attempts,
        tracer=trace.get_tracer("torghut.decision_client", tracer_provider=runtime.tracer_provider))
    intake.on_claimed = worker.offer
    intake.claim_lease = ClaimLease(worker.owner, worker.lease_s)
    handlers.metrics.claims_in_hand.set_function(lambda: worker.in_hand)
    runtime.background("decision-claims", worker.run_forever)

    async def drain() -> None:
        await worker.drain(settings.graceful_timeout_s)

    runtime.on_stop(drain)
    return worker


def build_runtime(settings: DecisionClientSettings) -> ServiceRuntime:
    return build_app(settings).runtime
