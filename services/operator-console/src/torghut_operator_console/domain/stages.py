"""The pipeline's stages, in flow order, and the one line a message of each gets on the page.

A stage is a topic seen from the operator's chair: signals become triggers, triggers decisions,
decisions verdicts, approved verdicts orders, orders fills. ``describe`` is what the chain view
prints for a hop, so it says the thing an operator checks first (the action, the outcome and its
reasons, the fill price), never the whole payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from torghut_contracts.enums import FILL_EVENTS
from torghut_contracts.models import (
    ApprovedOrder,
    Decision,
    RiskVerdict,
    StrategyTrigger,
    TaSignal,
    TradeUpdate,
)


class Stage(StrEnum):
    SIGNALS = "signals"
    TRIGGERS = "triggers"
    DECISIONS = "decisions"
    VERDICTS = "verdicts"
    ORDERS = "orders"
    FILLS = "fills"
    ORDER_EVENTS = "order events"
    """Trade updates that carry no fill (accepted, canceled...): in a chain, not in the flow."""


FLOW: tuple[Stage, ...] = (Stage.SIGNALS, Stage.TRIGGERS, Stage.DECISIONS, Stage.VERDICTS, Stage.ORDERS, Stage.FILLS)
"""The stages in the order a message moves through them."""


@dataclass(frozen=True)
class Hop:
    """One message of a chain, as the chain view lists it."""

    stage: Stage
    symbol: str
    summary: str


def describe(message: Any) -> Hop | None:
    """The hop a message makes, or None for a message outside the pipeline (control, snapshots)."""
    match message:
        case TaSignal():
            price = message.mark_price
            mark = "none" if price is None else str(price)
            return Hop(Stage.SIGNALS, message.symbol, f"signal #{message.seq} from {message.source}, mark {mark}")
        case StrategyTrigger():
            return Hop(Stage.TRIGGERS, message.symbol,
                       f"{message.strategy_id} {message.trigger_type}: {message.direction} at {message.price}")
        case Decision():
            codes = f" ({', '.join(message.reason_codes)})" if message.reason_codes else ""
            return Hop(Stage.DECISIONS, message.symbol,
                       f"{message.intent.action} {message.intent.qty} at confidence {message.confidence}{codes}")
        case RiskVerdict():
            codes = f": {', '.join(message.reason_codes)}" if message.reason_codes else ""
            return Hop(Stage.VERDICTS, message.symbol,
                       f"{message.outcome} {message.approved_qty} of {message.requested_qty}{codes}")
        case ApprovedOrder():
            return Hop(Stage.ORDERS, message.symbol,
                       f"{message.side} {message.qty} {message.order_type} as {message.client_order_id}")
        case TradeUpdate() if message.event in FILL_EVENTS:
            return Hop(Stage.FILLS, message.order.symbol,
                       f"{message.event} {message.fill_qty} at {message.fill_price} on {message.venue}")
        case TradeUpdate():
            return Hop(Stage.ORDER_EVENTS, message.order.symbol,
                       f"{message.event}: {message.order.status} on {message.venue}")
        case _:
            return None
