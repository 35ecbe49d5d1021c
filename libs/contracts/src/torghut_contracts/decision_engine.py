"""The decision-engine HTTP contract (seed 002): request, SSE events, run status.

Not a Kafka topic, but a contract between two services all the same (decision-client and the
reference decision engine, or Jangar), so it lives here and evolves by the same rule: a version
only gains optional fields.

``POST /api/torghut/decision-engine/stream`` takes a :class:`DecisionRequest` and answers
``text/event-stream``; every event's ``data`` is one of the models below, named by ``event:``.
``GET /api/torghut/decision-engine/runs/{run_id}`` answers :class:`RunStatus`.

``POST /api/torghut/decision-engine/batches`` takes a :class:`DecisionBatch` (several requests, as
many runs) and answers :class:`DecisionBatchResult`: each run's status, in request order. A run that
finished at once carries its final; one still going is followed like any other run, by its id
(resume its stream with ``Last-Event-ID``, or poll it). It is an addition of this suite's engine:
seed 002 has no batches, so a caller must fall back to one stream per run where it is missing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from .enums import Adapter, Side
from .models.base import Contract
from .models.decision import DecisionIntent, SizeRecommendation
from .types import (
    Fraction,
    Identifier,
    Label,
    Money,
    NonNegative,
    Num,
    Price,
    SequenceNumber,
    SignedQuantity,
    Symbol,
    Text,
    UtcDatetime,
)

STREAM_PATH = "/api/torghut/decision-engine/stream"
RUNS_PATH = "/api/torghut/decision-engine/runs/{run_id}"
BATCH_PATH = "/api/torghut/decision-engine/batches"
MAX_BATCH_REQUESTS = 64


class SseEvent(StrEnum):
    ACCEPTED = "decision.accepted"
    PROGRESS = "decision.progress"
    CONTEXT_READY = "decision.context_ready"
    ANALYSIS_COMPLETE = "decision.analysis_complete"
    FINAL = "decision.final"
    ERROR = "decision.error"


TERMINAL_EVENTS = frozenset({SseEvent.FINAL, SseEvent.ERROR})


class TriggerContext(Contract):
    type: Identifier
    event_ts: UtcDatetime
    source: Label = "torghut-ta"
    direction: Side | None = None
    price: Price | None = None
    features: dict[str, Num] = Field(default_factory=dict)


class PortfolioPosition(Contract):
    symbol: Symbol
    qty: SignedQuantity
    market_value: Money


class PortfolioContext(Contract):
    equity: Money
    buying_power: NonNegative
    current_exposure: NonNegative
    position: PortfolioPosition | None = None
    as_of: UtcDatetime | None = None


class RiskPolicyContext(Contract):
    max_notional_per_trade: NonNegative
    max_position_pct_equity: Fraction
    kill_switch_enabled: bool = False


class ExecutionContext(Contract):
    primary_adapter: Adapter = Adapter.ALPACA
    lean_enabled: bool = False
    mode: Literal["paper", "live"] = "paper"


class DecisionRequest(Contract):
    request_id: Identifier
    symbol: Symbol
    strategy_id: Identifier
    account: Label | None = None
    trigger: TriggerContext
    portfolio: PortfolioContext
    risk_policy: RiskPolicyContext
    execution_context: ExecutionContext = Field(default_factory=ExecutionContext)
    required_domains: list[Label] | None = Field(
        default=None, description="Skill domains this strategy requires; below quality, the decision is hold.")


class RunState(StrEnum):
    ACCEPTED = "accepted"
    RUNNING = "running"
    FINAL = "final"
    ERROR = "error"


class RunAccepted(Contract):
    run_id: Identifier
    request_id: Identifier
    status: RunState
    created_at: UtcDatetime
    existing: bool = Field(default=False, description="True when the request id matched an earlier run.")


class RunProgress(Contract):
    run_id: Identifier
    stage: Label = Field(max_length=64)
    skill: Label | None = None
    message: Text = Field(default="", max_length=2000)


class SkillOutput(Contract):
    """One skill's structured result, with how fresh and how trustworthy its inputs were."""

    skill: Identifier
    version: Label
    status: Literal["ok", "missing", "stale", "error"]
    freshness_seconds: NonNegative | None = None
    source_quality: Fraction
    data: dict[str, object] = Field(default_factory=dict)
    risk_flags: list[Label] = Field(default_factory=list)


class ContextReady(Contract):
    run_id: Identifier
    skill_bundle_version: Label
    skills: list[SkillOutput]


class AnalysisComplete(Contract):
    run_id: Identifier
    summary: Text = Field(default="", max_length=4000)


class DecisionFinal(Contract):
    run_id: Identifier
    request_id: Identifier
    intent: DecisionIntent
    confidence: Fraction
    uncertainty_notes: list[Text] = Field(default_factory=list)
    size_recommendation: SizeRecommendation
    artifact_refs: dict[Label, Text] = Field(default_factory=dict, description="One reference per skill.")
    risk_flags: list[Label] = Field(default_factory=list)
    reason_codes: list[Label] = Field(default_factory=list)
    engine_version: Label
    mode: Label
    program: Label | None = None
    artifact_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    skill_bundle_version: Label | None = None


class DecisionError(Contract):
    run_id: Identifier
    code: Label = Field(max_length=64)
    message: Text = Field(default="", max_length=4000)
    retryable: bool = False


class RunStatus(Contract):
    run_id: Identifier
    request_id: Identifier
    status: RunState
    created_at: UtcDatetime
    updated_at: UtcDatetime
    last_event_id: SequenceNumber
    final: DecisionFinal | None = None
    error: DecisionError | None = None


class DecisionBatch(Contract):
    """Several decision requests asked in one round trip; each is a run of its own, as if streamed alone."""

    requests: list[DecisionRequest] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)

    @field_validator("requests")
    @classmethod
    def _request_ids_are_distinct(cls, requests: list[DecisionRequest]) -> list[DecisionRequest]:
        seen: set[str] = set()
        for request in requests:
            if request.request_id in seen:  # two answers for one id: which would the caller keep?
                raise ValueError(f"request id {request.request_id!r} appears twice")
            seen.add(request.request_id)
        return requests


class DecisionBatchResult(Contract):
    runs: list[RunStatus] = Field(description="One per request, in request order.")
