"""``torghut.risk.verdicts.v1`` and ``torghut.orders.approved.v1``: the firewall's word."""

from __future__ import annotations

from pydantic import Field, model_validator

from torghut_contracts.enums import Adapter, OrderType, Side, TimeInForce, TradingState, VerdictOutcome
from torghut_contracts.types import (
    Account,
    Identifier,
    Label,
    NonNegative,
    Positive,
    Price,
    Quantity,
    Symbol,
    UtcDatetime,
)

from .base import Contract


class QuantityClamp(Contract):
    """Quantity is only ever clamped down; the record says from what and why."""

    requested_qty: Positive
    approved_qty: Positive
    reason_codes: list[str]

    @model_validator(mode="after")
    def _down_only(self) -> QuantityClamp:
        if self.approved_qty > self.requested_qty:
            raise ValueError("a clamp can only reduce the quantity")
        return self


class RiskVerdict(Contract):
    verdict_id: Identifier
    decision_id: Identifier
    request_id: Identifier
    account: Account
    symbol: Symbol
    outcome: VerdictOutcome
    reason_codes: list[str] = Field(default_factory=list, description="Every failing check, not the first.")
    side: Side | None = None
    requested_qty: Quantity
    approved_qty: Quantity
    clamp: QuantityClamp | None = None
    client_order_id: Label | None = Field(default=None, max_length=48)
    trading_state: TradingState
    reference_price: Price | None = None
    decided_at: UtcDatetime

    @model_validator(mode="after")
    def _consistent(self) -> RiskVerdict:
        if self.outcome is VerdictOutcome.APPROVE and (self.client_order_id is None or self.approved_qty <= 0):
            raise ValueError("an approval carries a client_order_id and a positive approved_qty")
        if self.outcome is VerdictOutcome.VETO and not self.reason_codes:
            raise ValueError("a veto names at least one reason code")
        return self


class ApprovedOrder(Contract):
    client_order_id: Label = Field(min_length=1, max_length=48, description="Alpaca's limit is 48 characters.")
    decision_id: Identifier
    request_id: Identifier
    account: Account
    symbol: Symbol
    side: Side
    qty: Positive
    order_type: OrderType = OrderType.MARKET
    limit_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    reference_price: Price
    max_slippage_bps: NonNegative
    adapter_hint: Adapter | None = None
    clamp: QuantityClamp | None = None
    approved_at: UtcDatetime
