"""From the core's ``Verdict`` to the wire: ``RiskVerdict`` for every decision, ``ApprovedOrder`` for approvals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from torghut_contracts.enums import Adapter, OrderType, TimeInForce, VerdictOutcome
from torghut_contracts.models import ApprovedOrder, Decision, QuantityClamp, RiskVerdict

from .evaluate import Verdict
from .ids import verdict_id
from .sweep import FlattenOrder

FLATTEN_SLIPPAGE_BPS = Decimal(50)


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What the approved order carries beyond the verdict (from the decision, or the flatten defaults)."""

    decision_id: str
    request_id: str
    account: str
    symbol: str
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    extended_hours: bool = False
    max_slippage_bps: Decimal = FLATTEN_SLIPPAGE_BPS
    adapter_hint: Adapter | None = None

    @classmethod
    def of_decision(cls, decision: Decision) -> OrderTerms:
        order = decision.intent.order
        return cls(decision.decision_id, decision.request_id, decision.account, decision.symbol, order.order_type,
                   order.limit_price, order.time_in_force, order.extended_hours, decision.intent.max_slippage_bps,
                   decision.intent.adapter_hint)

    @classmethod
    def of_flatten(cls, account: str, flatten: FlattenOrder) -> OrderTerms:
        return cls(flatten.decision_id, flatten.decision_id, account, flatten.symbol)


def _clamp(verdict: Verdict) -> QuantityClamp | None:
    if verdict.clamp is None:
        return None
    return QuantityClamp(requested_qty=verdict.clamp.requested_qty, approved_qty=verdict.clamp.approved_qty,
                         reason_codes=list(verdict.clamp.reason_codes))


def to_risk_verdict(verdict: Verdict, terms: OrderTerms) -> RiskVerdict:
    price = verdict.reference_price
    return RiskVerdict(
        verdict_id=verdict_id(terms.account, terms.decision_id),
        decision_id=terms.decision_id,
        request_id=terms.request_id,
        account=terms.account,
        symbol=terms.symbol,
        outcome=VerdictOutcome.APPROVE if verdict.approved else VerdictOutcome.VETO,
        reason_codes=list(verdict.reason_codes),
        side=verdict.side,
        requested_qty=verdict.requested_qty if verdict.requested_qty.is_finite() and verdict.requested_qty >= 0
        else Decimal(0),
        approved_qty=verdict.approved_qty,
        clamp=_clamp(verdict),
        client_order_id=verdict.client_order_id if verdict.approved else None,
        trading_state=verdict.trading_state,
        reference_price=price if price is not None and price.is_finite() and price > 0 else None,
        decided_at=verdict.decided_at,
    )


def to_approved_order(verdict: Verdict, terms: OrderTerms) -> ApprovedOrder:
    assert verdict.approved and verdict.side is not None and verdict.reference_price is not None
    return ApprovedOrder(
        client_order_id=verdict.client_order_id,
        decision_id=terms.decision_id,
        request_id=terms.request_id,
        account=terms.account,
        symbol=terms.symbol,
        side=verdict.side,
        qty=verdict.approved_qty,
        order_type=terms.order_type,
        limit_price=terms.limit_price,
        time_in_force=terms.time_in_force,
        extended_hours=terms.extended_hours,
        reference_price=verdict.reference_price,
        max_slippage_bps=terms.max_slippage_bps,
        adapter_hint=terms.adapter_hint,
        clamp=_clamp(verdict),
        approved_at=verdict.decided_at,
    )
