"""Assembly: settings -> store, run manager, HTTP routes and upkeep loop on a :class:`ServiceRuntime`."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import structlog
from torghut_decision_program import ArtifactError, ProgramArtifact
from torghut_decision_program.shipped import ArtifactIntegrityError, known_programs
from torghut_runtime import ConfigError, ServiceRuntime
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag, wire_flags

from .adapters.handlers import DecisionEngineApi, StreamSettings
from .adapters.sse import RunSignals
from .adapters.store import RunStore
from .domain.config import RuleConfig
from .metrics import RunMetrics
from .runs.manager import RunManager
from .runs.policy import Reviewer, RunPolicy
from .settings import PRODUCTION_MIN_HEARTBEAT_S, DecisionEngineSettings

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger("torghut.decision_engine")


def engine_version() -> str:
    try:
        return version("torghut-decision-engine")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0+unknown"


def rule_config(settings: DecisionEngineSettings) -> RuleConfig:
    return RuleConfig(
        quality_threshold=Decimal(str(settings.decision_engine_quality_threshold)),
        max_trigger_age_s=Decimal(str(settings.decision_engine_max_trigger_age_s)),
        max_portfolio_age_s=Decimal(str(settings.decision_engine_max_portfolio_age_s)),
        max_spread_bps=settings.decision_engine_max_spread_bps,
        lean_policy=settings.decision_engine_lean_policy,
        lean_symbols=frozenset(settings.decision_engine_lean_symbols),
        llm_min_confidence=Decimal(str(settings.decision_engine_llm_min_confidence)),
    )


def build_reviewer(settings: DecisionEngineSettings, lm: Any | None) -> Reviewer | None:
    """DSPy mode when an LM is configured (or handed in by a test); deterministic mode otherwise.

    The program is looked up by ``DECISION_ENGINE_DSPY_ARTIFACT_HASH`` among the shipped artifacts and
    those of ``DECISION_ENGINE_DSPY_ARTIFACT_DIR``, every one re-hashed from its content: a tampered
    file, an unknown hash or another program stops start-up with a ``ConfigError`` naming the setting.
    """
    known = _known_programs(settings.decision_engine_dspy_artifact_dir)  # verified whatever the mode
    if lm is None and not settings.dspy_enabled:
        return None
    digest = settings.decision_engine_dspy_artifact_hash
    if digest is None:
        raise ConfigError(f"{HASH_SETTING} is required in DSPy mode")
    if digest not in known:
        raise ConfigError(f"{HASH_SETTING}={digest}: no such compiled program (shipped or in {DIR_SETTING})")
    from .adapters.dspy_program import DspyReviewer, build_lm

    if lm is None:
        api_key = settings.decision_engine_llm_api_key
        lm = build_lm(str(settings.decision_engine_llm_base_url), str(settings.decision_engine_llm_model),
                      api_key.get_secret_value() if api_key else None, settings.decision_engine_llm_timeout_s,
                      settings.decision_engine_llm_max_tokens,
                      response_schema=settings.decision_engine_llm_response_schema)
    return DspyReviewer(known[digest], lm, timeout_s=settings.decision_engine_llm_timeout_s,
                        in_json=settings.decision_engine_llm_response_schema)


HASH_SETTING = "DECISION_ENGINE_DSPY_ARTIFACT_HASH"
DIR_SETTING = "DECISION_ENGINE_DSPY_ARTIFACT_DIR"


def _known_programs(directory: str | None) -> dict[str, ProgramArtifact]:
    try:
        return known_programs(directory)
    except (ArtifactError, ArtifactIntegrityError) as exc:
        raise ConfigError(f"{DIR_SETTING if directory else HASH_SETTING}: refused: {exc}") from None


MARKET_CONTEXT = "market-context"


def required_domains_source(settings: DecisionEngineSettings, flags: FeatureFlags) -> Callable[[str], frozenset[str]]:
    """A strategy's required skill domains per run. With flags enabled, ``market-context`` in the default
    list (DECISION_ENGINE_REQUIRED_DOMAINS) follows the flag; a strategy with its own list in
    DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS keeps it as configured."""
    if not flags.enabled:
        return settings.required_domains_for
    default = frozenset(settings.decision_engine_required_domains)
    with_context, without_context = default | {MARKET_CONTEXT}, default - {MARKET_CONTEXT}
    overrides = settings.decision_engine_strategy_required_domains

    def required(strategy_id: str) -> frozenset[str]:
        if strategy_id in overrides:
            return frozenset(overrides[strategy_id])
        return with_context if flags.value(Flag.MARKET_CONTEXT_REQUIRED) else without_context

    return required


@dataclass(frozen=True)
class DecisionEngine:
    runtime: ServiceRuntime
    manager: RunManager
    flags: FeatureFlags | None = None


def build(settings: DecisionEngineSettings, *, lm: Any | None = None, configure_logs: bool = True,
          flag_settings: FeatureFlagSettings | None = None) -> DecisionEngine:
    if settings.litellm_local_model_cost_map:
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    if settings.decision_engine_heartbeat_s < PRODUCTION_MIN_HEARTBEAT_S:
        log.warning("heartbeat below the production range of 5-15 s; meant for tests",
                    heartbeat_s=settings.decision_engine_heartbeat_s)
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs, uses_kafka=False)
    flags = wire_flags(runtime, "decision-engine", settings, flag_settings)
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    lease_ttl = timedelta(seconds=settings.decision_engine_lease_ttl_s)
    store = RunStore(runtime.engine, owner, lease_ttl)
    signals = RunSignals()
    policy = RunPolicy(run_timeout=timedelta(seconds=settings.decision_engine_run_timeout_s), lease_ttl=lease_ttl,
                       retention=timedelta(days=settings.decision_engine_retention_days), rules=rule_config(settings),
                       required_by_strategy=required_domains_source(settings, flags),
                       event_clock=settings.clock == "event")
    manager = RunManager(store, signals, policy, engine_version=engine_version(),
                         reviewer=build_reviewer(settings, lm), metrics=RunMetrics(runtime.registry))
    api = DecisionEngineApi(manager, signals, StreamSettings(
        heartbeat_s=settings.decision_engine_heartbeat_s, poll_s=settings.decision_engine_poll_interval_s,
        fault_injection=settings.decision_engine_fault_injection))
    runtime.add_routes(api.routes())
    runtime.background("decision-runs-upkeep", manager.maintain)
    runtime.on_exit_signal(signals.shut_down)  # open streams end at once with decision.error shutting_down
    runtime.on_stop(manager.shutdown)  # a stop fails our live runs: fail closed, never resumed
    log.info("decision engine assembled", mode=manager.mode, owner=owner,
             fault_injection=settings.decision_engine_fault_injection)
    return DecisionEngine(runtime, manager, flags)


def build_runtime(settings: DecisionEngineSettings) -> ServiceRuntime:
    return build(settings).runtime
