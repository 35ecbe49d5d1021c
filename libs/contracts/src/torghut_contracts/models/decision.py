"""``torghut.decisions.v1``: a decision intent proposed by a decision engine."""

from __future__ import annotations

from pydantic import Field, model_validator

from torghut_contracts.enums import Action, Adapter, OrderType, TimeInForce
from torghut_contracts.types import (
    Account,
    Fraction,
    Identifier,
    Label,
    NonNegative,
    Price,
    Quantity,
    Symbol,
    Text,
    UtcDatetime,
)

from .base import Contract


class OrderConstraints(Contract):
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False

    @model_validator(mode="after")
    def _limit_needs_price(self) -> OrderConstraints:
        if self.order_type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a limit order needs limit_price")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a market order must not carry limit_price")
        return self


class DecisionIntent(Contract):
    """What the engine proposes. Advisory: the risk firewall decides."""

    action: Action
    qty: Quantity
    order: OrderConstraints = Field(default_factory=OrderConstraints)
    max_slippage_bps: NonNegative = Field(default=25)
    adapter_hint: Adapter | None = None
    adapter_hint_reason: Text | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _hold_has_no_size(self) -> DecisionIntent:
        if self.action is Action.HOLD and self.qty != 0:
            raise ValueError("a hold carries qty 0")
        if self.action is not Action.HOLD and self.qty <= 0:
            raise ValueError("a buy or sell needs qty > 0")
        return self


class SizeRecommendation(Contract):
    max_qty: Quantity
    max_notional: NonNegative


class EngineProvenance(Contract):
    transport: Label = Field(max_length=64, description="decision-engine | chat-completions | dspy")
    engine_version: Label = Field(default="unknown", max_length=64)
    mode: Label = Field(max_length=64, description="deterministic | dspy | shadow | fallback ...")
    program: Label | None = Field(default=None, max_length=200)
    artifact_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    run_id: Label | None = Field(default=None, max_length=200)
    latency_ms: NonNegative | None = None


class ShadowVerdict(Contract):
    """A shadow program's opinion, recorded beside the primary decision and never acted on."""

    action: Action
    qty: Quantity
    confidence: Fraction | None = None
    reason_codes: list[Label] = Field(default_factory=list)
    artifact_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Decision(Contract):
    decision_id: Identifier
    request_id: Identifier
    account: Account
    symbol: Symbol
    strategy_id: Identifier
    intent: DecisionIntent
    confidence: Fraction
    uncertainty_notes: list[Text] = Field(default_factory=list)
    size_recommendation: SizeRecommendation | None = None
    risk_flags: list[Label] = Field(default_factory=list)
    reason_codes: list[Label] = Field(default_factory=list, description="Why a hold, when it is one.")
    artifact_refs: dict[Label, Text] = Field(default_factory=dict)
    reference_price: Price | None = None
    signal_event_ts: UtcDatetime
    decided_at: UtcDatetime
    provenance: EngineProvenance
    shadow: ShadowVerdict | None = None
