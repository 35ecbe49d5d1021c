"""Settings of the reference decision engine (every field is an environment variable of the same name).

The engine consumes no Kafka topic, but :class:`~torghut_runtime.ServiceRuntime` starts a broker
client and probes it in ``/readyz``, so ``KAFKA_BOOTSTRAP_SERVERS`` is still required.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import Clock, renamed_clock, split_commas

from .domain.skills import SKILL_NAMES

DEFAULT_REQUIRED_DOMAINS = ["technicals-regime", "risk-exposure-sizing", "market-context"]
PRODUCTION_MIN_HEARTBEAT_S = 5.0


def _known_domains(domains: list[str], variable: str) -> list[str]:
    unknown = sorted(set(domains) - set(SKILL_NAMES))
    if unknown:
        raise ValueError(f"{variable}: unknown skill domain(s) {unknown}; known: {list(SKILL_NAMES)}")
    return domains


class DecisionEngineSettings(ServiceSettings):
    renamed_variables = (renamed_clock("DECISION_ENGINE_CLOCK"),)

    service_name: str = Field(default="decision-engine", min_length=1)

    # -- streaming and run lifecycle ---------------------------------------------------------------
    decision_engine_heartbeat_s: float = Field(
        default=10.0, ge=0.05, le=15.0,
        description="Seconds between ': heartbeat' comments on an idle stream. Production: 5-15 (seed 002); "
                    "values down to 0.05 exist only so tests run fast (a warning is logged below 5).")
    decision_engine_run_timeout_s: float = Field(
        default=90.0, gt=0, le=3600, description="Hard timeout of one run, from its creation; ends in decision.error "
                                                 "code 'timeout'.")
    decision_engine_poll_interval_s: float = Field(
        default=0.5, ge=0.01, le=10,
        description="How often an open stream re-reads the run's events from Postgres (needed when another replica "
                    "owns the run; local runs also wake the stream immediately).")
    decision_engine_lease_ttl_s: float = Field(
        default=30.0, ge=0.2, le=600,
        description="A run's owner renews its lease every third of this; a run whose lease expired (its engine "
                    "crashed or restarted) is failed with code 'engine_restarted'.")
    decision_engine_retention_days: float = Field(
        default=7.0, gt=0, description="Finished runs and their events are deleted after this many days.")
    clock: Clock = Field(
        default="wall", description="'event' judges freshness as of each trigger's event time (replaying a "
                                    "recorded session); 'wall' uses the clock (live). Formerly "
                                    "DECISION_ENGINE_CLOCK.")
    decision_engine_fault_injection: bool = Field(
        default=False, description="Honour the x-torghut-fault request header (tests only). Off: the header is "
                                   "ignored.")

    # -- decision rules ----------------------------------------------------------------------------
    decision_engine_quality_threshold: float = Field(
        default=0.5, ge=0, le=1, description="A required skill domain below this source quality forces hold.")
    decision_engine_required_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_REQUIRED_DOMAINS),
        description="Comma-separated skill domains required for every strategy not listed in "
                    "DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS.")
    decision_engine_strategy_required_domains: dict[str, list[str]] = Field(
        default_factory=dict,
        description='JSON map strategy_id -> required domains, e.g. {"macd-rsi-v1": ["technicals-regime"]}.')
    decision_engine_max_trigger_age_s: float = Field(
        default=300.0, gt=0, description="A trigger older than this (by its event_ts) is stale: hold.")
    decision_engine_max_portfolio_age_s: float = Field(
        default=300.0, gt=0, description="A portfolio snapshot older than this (by its as_of) is stale.")
    decision_engine_max_spread_bps: Decimal = Field(
        default=Decimal("50"), gt=0, description="A wider spread holds; also caps max_slippage_bps.")
    decision_engine_lean_policy: Literal["allowlist", "all"] = Field(
        default="allowlist", description="When execution_context.lean_enabled: route every symbol to LEAN ('all') "
                                         "or only those in DECISION_ENGINE_LEAN_SYMBOLS ('allowlist').")
    decision_engine_lean_symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated symbols routed to LEAN under the allowlist policy.")

    # -- DSPy mode (on when a base URL is set) -----------------------------------------------------
    decision_engine_llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL, e.g. http://host:8000/v1. Unset: deterministic mode.")
    decision_engine_llm_model: str | None = Field(default=None, description="Model name sent to the LM server.")
    decision_engine_llm_api_key: SecretStr | None = None
    decision_engine_llm_timeout_s: float = Field(default=8.0, gt=0, le=300)
    decision_engine_llm_max_tokens: int = Field(default=800, ge=64, le=16_000)
    decision_engine_llm_response_schema: bool = Field(
        default=False,
        description="Ask for the review in JSON held to its schema (response_format json_object with a schema, "
                    "which llama.cpp's server turns into a grammar): for small local models. Off for servers that "
                    "accept only OpenAI's own fields; the review is then asked in dspy's chat format.")
    decision_engine_llm_min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="The program's confidence below this makes the decision hold.")
    decision_engine_dspy_artifact_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the compiled trade-decision program to run (a shipped one or one in "
                    "DECISION_ENGINE_DSPY_ARTIFACT_DIR); required in DSPy mode.")
    decision_engine_dspy_artifact_dir: str | None = Field(
        default=None, description="Directory of compiled program artifacts named <sha256>.json (torghut-research "
                                  "dspy compile / promote); every file is verified at start-up.")
    litellm_local_model_cost_map: bool = Field(
        default=True, description="Exported before dspy is imported, so no cost map is fetched from the internet.")

    @field_validator("decision_engine_required_domains", "decision_engine_lean_symbols", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        return split_commas(value)

    @field_validator("decision_engine_required_domains")
    @classmethod
    def _required_known(cls, value: list[str]) -> list[str]:
        return _known_domains(value, "DECISION_ENGINE_REQUIRED_DOMAINS")

    @field_validator("decision_engine_strategy_required_domains")
    @classmethod
    def _strategy_known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for domains in value.values():
            _known_domains(domains, "DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS")
        return value

    @field_validator("decision_engine_lean_symbols")
    @classmethod
    def _upper_symbols(cls, value: list[str]) -> list[str]:
        return [symbol.upper() for symbol in value]

    @field_validator("decision_engine_llm_base_url")
    @classmethod
    def _normalise_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("DECISION_ENGINE_LLM_BASE_URL must be an http(s) URL without query or fragment, "
                             "e.g. http://host:8000/v1")
        path = parts.path.rstrip("/")
        if path.endswith("/chat/completions"):
            path = path[: -len("/chat/completions")]
        return f"{parts.scheme}://{parts.netloc}{path}"

    @model_validator(mode="after")
    def _model_needed_with_base_url(self) -> DecisionEngineSettings:
        if self.decision_engine_llm_base_url and not self.decision_engine_llm_model:
            raise ValueError("DECISION_ENGINE_LLM_MODEL is required when DECISION_ENGINE_LLM_BASE_URL is set")
        if self.decision_engine_llm_base_url and not self.decision_engine_dspy_artifact_hash:
            raise ValueError("DECISION_ENGINE_DSPY_ARTIFACT_HASH is required when DECISION_ENGINE_LLM_BASE_URL is set "
                             "(the hash of the compiled program to run, e.g. the shipped reference program's, "
                             "listed in torghut_decision_program/shipped/manifest.json)")
        return self

    @property
    def dspy_enabled(self) -> bool:
        return self.decision_engine_llm_base_url is not None

    def required_domains_for(self, strategy_id: str) -> frozenset[str]:
        configured = self.decision_engine_strategy_required_domains.get(strategy_id,
                                                                        self.decision_engine_required_domains)
        return frozenset(configured)
