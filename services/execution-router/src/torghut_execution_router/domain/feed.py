"""Order-feed rules: which venue events change an execution, and which are stale or repeats.

These follow upstream's order-feed consumer (reference §1.5): a duplicate is recognised by its
fingerprint (the store's unique index), an event older than what was applied is *stale by seq* when
both sides carry a venue sequence, otherwise *stale by ts*; stale events are kept for audit but not
applied. Two rules are added because one router sees the same order through a stream and through
REST reconciliation: an event that changes nothing is not published again, and an order never goes
back from a terminal status or from a larger filled quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from torghut_contracts.enums import OrderStatus

from .orders import TERMINAL_STATUSES, VenueEvent


class FeedVerdict(StrEnum):
    APPLY = "apply"
    UNCHANGED = "unchanged"
    STALE_BY_SEQ = "stale_by_seq"
    STALE_BY_TS = "stale_by_ts"
    STALE_BY_STATE = "stale_by_state"
    MISSING_FIELDS = "missing_fields"
    """Set by a venue adapter when an event lacks what makes it an order event (no status, no identity)."""

    @property
    def is_stale(self) -> bool:
        return self in (FeedVerdict.STALE_BY_SEQ, FeedVerdict.STALE_BY_TS, FeedVerdict.STALE_BY_STATE)


@dataclass(frozen=True)
class ExecutionFeedState:
    """What the router last applied to one execution."""

    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    last_venue_seq: int | None
    last_event_ts: datetime | None


def judge(state: ExecutionFeedState, event: VenueEvent) -> FeedVerdict:
    order = event.order
    if event.is_venue_fact:
        if state.last_venue_seq is not None and event.venue_seq is not None:
            if event.venue_seq < state.last_venue_seq:
                return FeedVerdict.STALE_BY_SEQ
        elif state.last_event_ts is not None and event.timestamp < state.last_event_ts:
            return FeedVerdict.STALE_BY_TS
    if order.filled_qty < state.filled_qty:
        return FeedVerdict.STALE_BY_STATE
    if state.status in TERMINAL_STATUSES and order.status not in TERMINAL_STATUSES:
        return FeedVerdict.STALE_BY_STATE
    if (order.status == state.status and order.filled_qty == state.filled_qty
            and order.filled_avg_price == state.filled_avg_price):
        return FeedVerdict.UNCHANGED
    return FeedVerdict.APPLY


@dataclass(frozen=True)
class FillDelta:
    qty: Decimal
    price: Decimal | None


def fill_delta(state: ExecutionFeedState, event: VenueEvent) -> FillDelta | None:
    """This event's own fill: explicit when the venue says it, else derived from cumulative totals.

    A derived price is the one that moves the average from the old to the new cumulative fill.
    """
    order = event.order
    if event.fill_qty is not None and event.fill_qty > 0:
        return FillDelta(event.fill_qty, event.fill_price)
    delta = order.filled_qty - state.filled_qty
    if delta <= 0:
        return None
    price: Decimal | None = None
    if order.filled_avg_price is not None:
        old_notional = state.filled_qty * (state.filled_avg_price or Decimal(0))
        price = ((order.filled_qty * order.filled_avg_price - old_notional) / delta).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return FillDelta(delta, price)
