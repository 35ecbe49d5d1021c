"""The decision-client's configuration: which engine to ask, how long to wait, what to send.

Every variable the service reads is a field here, so deploy coverage can be generated from it.
Format errors (a malformed URL, a negative timeout) are reported by ``load_settings`` naming the
variable; cross-field rules (the DSPy gate, the transport's needs) are checked by
:func:`torghut_decision_client.startup.check_startup`, which raises ``ConfigError`` the same way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from torghut_contracts.enums import Adapter
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import Clock, renamed_clock

from .domain.jangar_url import chat_completions_url

Transport = Literal["decision-engine", "chat-completions", "dspy"]


class DecisionClientSettings(ServiceSettings):
    renamed_variables = (renamed_clock("DECISION_CLOCK"),)

    service_name: str = Field(default="decision-client", min_length=1)

    torghut_account: str = Field(default="paper-main", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                                 description="The account whose portfolio goes into each request and "
                                             "which keys the published decisions.")
    clock: Clock = Field(
        default="wall", description="'event' stamps decided_at with the trigger's event time (replaying a "
                                    "recorded session); 'wall' uses the clock (live). Formerly DECISION_CLOCK.")
    decision_client_workers: int = Field(
        default=128, ge=1, le=512,
        description="Engine runs in flight at once per process, each for another symbol (a symbol's triggers "
                    "are decided one at a time, in order). An engine with the batch endpoint is asked at most two "
                    "batches at a time whatever this is, and more runs waiting keep those batches full; an "
                    "engine asked one stream per run (Jangar) gets up to this many streams at once: lower it "
                    "for one that cannot take that many (a rate-limited LLM).")
    decision_transport: Transport = Field(
        default="decision-engine", description="decision-engine | chat-completions | dspy")

    # -- the decision-engine endpoint (seed 002) ---------------------------------------------
    decision_engine_url: str = Field(default="http://decision-engine:8080", pattern=r"^https?://[^\s/?#]+[^\s?#]*$",
                                     description="Base URL; the contract's paths are appended to it.")
    decision_engine_connect_timeout_s: float = Field(default=5.0, gt=0)
    decision_engine_read_timeout_s: float = Field(
        default=30.0, gt=0, description="Silence (not even a heartbeat) after which the connection counts as dropped.")
    decision_engine_stall_timeout_s: float = Field(
        default=90.0, gt=0, description="Data-staleness watchdog: time without a non-heartbeat event.")
    decision_engine_poll_interval_s: float = Field(default=2.0, gt=0,
                                                   description="Poll period of the GET runs fallback.")
    decision_engine_max_reconnects: int = Field(default=5, ge=0, le=100,
                                                description="Reconnects (with backoff) per decision before failing.")
    decision_engine_batch_max: int = Field(
        default=32, ge=1, le=64,
        description="Runs asked of the engine in one request (POST .../batches) when several claims are ready at "
                    "once; each is still a run of its own. 1 gives every run its own stream. An engine without the "
                    "batch endpoint (404/405, e.g. Jangar) is asked one run per stream for five minutes, then "
                    "a batch is tried again.")
    decision_engine_backoff_initial_s: float = Field(default=0.5, ge=0)
    decision_engine_backoff_max_s: float = Field(default=8.0, ge=0)
    decision_deadline_s: float = Field(
        default=240.0, gt=0,
        description="Overall deadline of one decision, all transports, reconnects included. Keep it below the "
                    "consumer's max poll interval (300 s) so a long run never costs the partition.")

    # -- the chat-completions transport and the DSPy LM (Jangar's OpenAI-compatible endpoint) -------
    jangar_base_url: str | None = Field(
        default=None, description="Jangar base URL; '', '/openai/v1' or '/openai/v1/chat/completions' path.")
    jangar_api_key: SecretStr | None = None
    llm_model: str = Field(default="gpt-5.6-sol", min_length=1, max_length=200)
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    llm_max_tokens: int = Field(default=800, ge=16, le=32_000)
    llm_response_schema: bool = Field(
        default=False,
        description="Send the answer's JSON schema with response_format json_object (llama.cpp's server turns it "
                    "into a grammar, so even a tiny local model answers in the decision's shape). Off for servers "
                    "that accept only OpenAI's own fields.")

    # -- the DSPy runtime gate (seeds 000/001, upstream 6.6); validated by the gate, in order ----
    llm_dspy_runtime_mode: str = Field(default="disabled", description="disabled | shadow | active")
    llm_dspy_artifact_hash: str | None = Field(default=None, description="sha256 of a known compiled program")
    llm_dspy_artifact_dir: str | None = Field(
        default=None, description="Directory of compiled program artifacts named <sha256>.json (e.g. a mounted "
                                  "ConfigMap), known beside the shipped ones; every file is verified at start-up.")
    llm_dspy_timeout_seconds: float = Field(default=8.0, gt=0)

    # -- what goes into every request ---------------------------------------------------------
    portfolio_max_age_s: float = Field(
        default=300.0, gt=0, description="A snapshot older than this (against the trigger's event time) is stale.")
    risk_max_notional_per_trade: Decimal = Field(default=Decimal("7000"), ge=0)
    risk_max_position_pct_equity: Decimal = Field(default=Decimal("0.08"), ge=0, le=1)
    risk_kill_switch_enabled: bool = Field(
        default=False, description="Advisory copy for the engine; the risk firewall enforces the real kill switch.")
    execution_primary_adapter: Adapter = Adapter.ALPACA
    execution_lean_enabled: bool = False
    trading_mode: Literal["paper", "live"] = "paper"
    decision_required_domains: dict[str, list[str]] = Field(
        default_factory=dict, description='JSON: strategy id -> skill domains it requires, e.g. {"macd-rsi-v1": '
                                          '["technicals-regime"]}; a strategy not listed leaves it to the engine.')

    @field_validator("jangar_base_url")
    @classmethod
    def _jangar_base_url_is_well_formed(cls, value: str | None) -> str | None:
        if value is not None:
            chat_completions_url(value)  # raises ValueError with the reason
        return value
