"""The topic registry: the one place that says which topics exist and what travels on them.

A breaking change never edits a released topic; it makes a ``.v2`` topic beside it (see
docs/contracts.md). Partition counts bound consumer parallelism, and the key decides ordering: per
symbol until a decision exists, per account afterwards, so one risk-firewall instance owns an
account's exposure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel

from .models import (
    AccountSnapshot,
    ApprovedOrder,
    ControlCommand,
    Decision,
    GithubIssueEvent,
    LaneRun,
    MarketBar,
    MarketQuote,
    RiskVerdict,
    StrategyTrigger,
    TaSignal,
    TradeUpdate,
    WhitepaperRunEvent,
)

M = TypeVar("M", bound=BaseModel)

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class DeadLetterTopic:
    """``<topic>.dlq``: original bytes and key, the error in headers, kept long enough to act on."""

    name: str
    partitions: int
    retention_ms: int = 30 * DAY_MS

    @property
    def config(self) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


@dataclass(frozen=True)
class TopicSpec(Generic[M]):
    name: str
    model: type[M]
    key_field: str
    key_of: Callable[[M], str] = field(repr=False)
    partitions: int = 3
    cleanup_policy: str = "delete"
    retention_ms: int | None = 7 * DAY_MS
    description: str = ""

    @property
    def config(self) -> dict[str, str]:
        config = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config

    @property
    def dlq(self) -> DeadLetterTopic:
        return DeadLetterTopic(name=self.name + DLQ_SUFFIX, partitions=self.partitions)

    @property
    def version(self) -> int:
        return int(self.name.rsplit(".v", 1)[1])

    def key(self, message: M) -> str:
        return self.key_of(message)

    def encode(self, message: M) -> bytes:
        if not isinstance(message, self.model):
            raise TypeError(f"{self.name} carries {self.model.__name__}, not {type(message).__name__}")
        return message.model_dump_json().encode()

    def decode(self, raw: bytes | str) -> M:
        """Parse and validate; raises ``pydantic.ValidationError`` with field-level errors."""
        return self.model.model_validate_json(raw)


MARKET_BARS: TopicSpec[MarketBar] = TopicSpec(
    "torghut.market.bars.v1", MarketBar, "symbol", lambda m: m.symbol,
    retention_ms=35 * DAY_MS, description="market-data -> ta; one symbol's bars in order on one partition",
)
MARKET_QUOTES: TopicSpec[MarketQuote] = TopicSpec(
    "torghut.market.quotes.v1", MarketQuote, "symbol", lambda m: m.symbol,
    retention_ms=7 * DAY_MS, description="market-data -> ta (spreads)",
)
TA_SIGNALS: TopicSpec[TaSignal] = TopicSpec(
    "torghut.ta.signals.v1", TaSignal, "symbol", lambda m: m.symbol,
    retention_ms=35 * DAY_MS, description="TA source / replay -> signal-trigger",
)
TRIGGERS: TopicSpec[StrategyTrigger] = TopicSpec(
    "torghut.triggers.v1", StrategyTrigger, "symbol", lambda m: m.symbol,
    retention_ms=35 * DAY_MS, description="signal-trigger -> decision-client",
)
DECISIONS: TopicSpec[Decision] = TopicSpec(
    "torghut.decisions.v1", Decision, "account", lambda m: m.account,
    retention_ms=35 * DAY_MS, description="decision-client -> risk-firewall",
)
ORDERS_APPROVED: TopicSpec[ApprovedOrder] = TopicSpec(
    "torghut.orders.approved.v1", ApprovedOrder, "account", lambda m: m.account,
    retention_ms=35 * DAY_MS, description="risk-firewall -> execution-router",
)
RISK_VERDICTS: TopicSpec[RiskVerdict] = TopicSpec(
    "torghut.risk.verdicts.v1", RiskVerdict, "account", lambda m: m.account,
    retention_ms=35 * DAY_MS, description="risk-firewall -> audit",
)
TRADE_UPDATES: TopicSpec[TradeUpdate] = TopicSpec(
    "torghut.trade-updates.v1", TradeUpdate, "account", lambda m: m.account,
    retention_ms=35 * DAY_MS, description="execution-router -> risk-firewall, audit",
)
ACCOUNT_SNAPSHOTS: TopicSpec[AccountSnapshot] = TopicSpec(
    "torghut.account.snapshots.v1", AccountSnapshot, "account", lambda m: m.account,
    retention_ms=7 * DAY_MS, description="execution-router -> risk-firewall, decision-client",
)
CONTROL: TopicSpec[ControlCommand] = TopicSpec(
    "torghut.control.v1", ControlCommand, "scope", lambda m: m.scope,
    partitions=1, cleanup_policy="compact", retention_ms=None,
    description="operator CLI -> all; compacted, the latest command per scope wins",
)
GITHUB_ISSUE_EVENTS: TopicSpec[GithubIssueEvent] = TopicSpec(
    "torghut.github.issue-events.v1", GithubIssueEvent, "repo#issue",
    lambda m: f"{m.repository}#{m.issue_number}", description="whitepaper-ingest HTTP -> worker",
)
WHITEPAPER_RUNS: TopicSpec[WhitepaperRunEvent] = TopicSpec(
    "torghut.whitepaper.runs.v1", WhitepaperRunEvent, "run_id", lambda m: m.run_id,
    retention_ms=30 * DAY_MS, description="whitepaper-ingest -> audit",
)

LANE_RUNS: TopicSpec[LaneRun] = TopicSpec(
    "torghut.research.lane-runs.v1", LaneRun, "run_id", lambda m: m.run_id,
    retention_ms=90 * DAY_MS, description="research lane -> console: what each run's gates decided",
)

ALL_TOPICS: tuple[TopicSpec[BaseModel], ...] = (  # type: ignore[assignment]
    MARKET_BARS, MARKET_QUOTES, TA_SIGNALS, TRIGGERS, DECISIONS, ORDERS_APPROVED, RISK_VERDICTS, TRADE_UPDATES,
    ACCOUNT_SNAPSHOTS, CONTROL, GITHUB_ISSUE_EVENTS, WHITEPAPER_RUNS, LANE_RUNS,
)
BY_NAME: dict[str, TopicSpec[BaseModel]] = {spec.name: spec for spec in ALL_TOPICS}


def all_topic_specs() -> Iterator[TopicSpec[BaseModel]]:
    return iter(ALL_TOPICS)


def topic(name: str) -> TopicSpec[BaseModel]:
    """Look a topic up by name; a sandbox prefix (``sandbox.x.``) is allowed in front of it."""
    for spec_name, spec in BY_NAME.items():
        if name == spec_name or name.endswith("." + spec_name):
            return spec
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(BY_NAME)}")
