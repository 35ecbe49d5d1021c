"""Closed enumerations: an unknown value is a validation error, never a silent default."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"

    @property
    def side(self) -> Side | None:
        """The order side this action trades on, None for a hold (it places no order).

        Defined here so that every reader of a decision maps its action to an order side the same way.
        """
        return None if self is Action.HOLD else Side(self.value)


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class Adapter(StrEnum):
    ALPACA = "alpaca"
    LEAN = "lean"
    PAPER = "paper"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class VerdictOutcome(StrEnum):
    APPROVE = "approve"
    VETO = "veto"


class TradeEvent(StrEnum):
    """Alpaca's ``trade_updates`` event types, so every venue speaks Alpaca's vocabulary."""

    NEW = "new"
    FILL = "fill"
    PARTIAL_FILL = "partial_fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    REPLACED = "replaced"
    REJECTED = "rejected"
    PENDING_NEW = "pending_new"
    STOPPED = "stopped"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CALCULATED = "calculated"
    SUSPENDED = "suspended"
    ORDER_REPLACE_REJECTED = "order_replace_rejected"
    ORDER_CANCEL_REJECTED = "order_cancel_rejected"
    ACCEPTED = "accepted"
    HELD = "held"


FILL_EVENTS: frozenset[TradeEvent] = frozenset({TradeEvent.FILL, TradeEvent.PARTIAL_FILL})
"""The trade-update events that carry a fill: the ones that move a position and realise P&L."""


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    CALCULATED = "calculated"
    HELD = "held"
    UNKNOWN = "unknown"
    """Sent, outcome not known (timeout after send, 5xx): reconcile by client_order_id, never 'rejected'."""


class WhitepaperRunStatus(StrEnum):
    RECEIVED = "received"
    PDF_STORED = "pdf_stored"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    FINALIZED = "finalized"
    FAILED = "failed"
