"""The order-feed state machine: how a venue event moves an execution, and which events are repeats.

Every venue event about an order (new, partial fill, fill, canceled, expired, rejected, replaced...,
from a submission answer, the Alpaca stream, a reconciliation, a paper fill or the router itself)
is judged against what the router last applied to that execution. The rules follow upstream's
order-feed consumer (reference §1.5): a duplicate is recognised by its fingerprint (the store's
unique index), an event older than what was applied is *stale by seq* when both sides carry a venue
sequence, otherwise *stale by ts*; stale events are kept for audit but not applied. Two rules are
added because one router sees the same order through a stream and through REST reconciliation: an
event that changes nothing is not published again, and an order never goes back from a terminal
status or from a larger filled quantity.

An applied event advances the execution (status, fill, per-order ``feed_seq``, event-time and venue
sequence cursors) and is the only kind that is published, as the ``TradeUpdate`` built here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from torghut_contracts.enums import OrderStatus
from torghut_contracts.models import TradeUpdate

from .orders import TERMINAL_STATUSES, FillDelta, VenueEvent, VenueOrder
from .trade_update import build_trade_update, event_fingerprint


class FeedVerdict(StrEnum):
    APPLY = "apply"
    UNCHANGED = "unchanged"
    STALE_BY_SEQ = "stale_by_seq"
    STALE_BY_TS = "stale_by_ts"
    STALE_BY_STATE = "stale_by_state"
    MISSING_FIELDS = "missing_fields"
    """Set by a venue adapter when an event lacks what makes it an order event (no status, no identity)."""
    UNLINKED = "unlinked"
    """An event about an order the router never placed: kept for audit, never applied or published."""

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
    if not reports_change(state, order):
        return FeedVerdict.UNCHANGED
    return FeedVerdict.APPLY


def reports_change(state: ExecutionFeedState, order: VenueOrder) -> bool:
    """Whether ``order`` says anything the router has not applied (status, filled quantity or price)."""
    return not (order.status == state.status and order.filled_qty == state.filled_qty
                and order.filled_avg_price == state.filled_avg_price)


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


@dataclass(frozen=True)
class FeedOrder:
    """An execution as the order feed sees it: the applied state, its feed position, and what the
    router knows of the order that a venue event may omit."""

    state: ExecutionFeedState
    feed_seq: int
    venue_order_id: str | None
    extended_hours: bool
    decision_id: str
    fallback_reason: str | None


@dataclass(frozen=True)
class FeedStep:
    """One event through the feed: the event as stored, its identity, the verdict, and what follows."""

    event: VenueEvent
    """The event with what it omitted filled in from the execution (``enrich``)."""
    fingerprint: str
    verdict: FeedVerdict
    update: TradeUpdate | None
    """The trade update to publish: only an applied event has one."""
    order: FeedOrder | None
    """The execution after the event (unchanged unless applied); None for an unlinked event."""

    @property
    def applied(self) -> bool:
        return self.verdict is FeedVerdict.APPLY


def enrich(event: VenueEvent, order: FeedOrder) -> VenueEvent:
    """Fill what a venue event may omit (its venue order id, whether it may trade outside regular hours)
    from what the router already knows."""
    known: dict[str, Any] = {}
    if event.order.venue_order_id is None and order.venue_order_id is not None:
        known["venue_order_id"] = order.venue_order_id
    if event.order.extended_hours is None:
        known["extended_hours"] = order.extended_hours
    return event.with_order(replace(event.order, **known)) if known else event


def advance(account: str, order: FeedOrder, event: VenueEvent) -> FeedStep:
    """Judge ``event`` against ``order``; if it applies, the execution it leaves and its trade update."""
    event = enrich(event, order)
    fingerprint = event_fingerprint(account, event)
    verdict = judge(order.state, event)
    if verdict is not FeedVerdict.APPLY:
        return FeedStep(event, fingerprint, verdict, update=None, order=order)
    update = build_trade_update(
        account=account, event=event, fingerprint=fingerprint, feed_seq=order.feed_seq + 1,
        decision_id=order.decision_id, fallback_reason=order.fallback_reason, delta=fill_delta(order.state, event))
    return FeedStep(event, fingerprint, verdict, update=update, order=_applied(order, event))


def advance_all(account: str, order: FeedOrder, events: Iterable[VenueEvent]) -> list[FeedStep]:
    """``advance`` each event in turn, each against the execution the previous one left."""
    steps = []
    for event in events:
        step = advance(account, order, event)
        steps.append(step)
        order = step.order or order
    return steps


def unlinked(account: str, event: VenueEvent) -> FeedStep:
    """An event for an order with no execution (placed by hand at the venue, say): stored as is."""
    return FeedStep(event, event_fingerprint(account, event), FeedVerdict.UNLINKED, update=None, order=None)


def _applied(order: FeedOrder, event: VenueEvent) -> FeedOrder:
    """The execution after an applied event; only venue facts move the event-time and sequence cursors."""
    state, reported = order.state, event.order
    last_event_ts, last_venue_seq = state.last_event_ts, state.last_venue_seq
    if event.is_venue_fact:
        last_event_ts = max(event.timestamp, last_event_ts or event.timestamp)
        if event.venue_seq is not None:
            last_venue_seq = max(event.venue_seq, last_venue_seq or 0)
    return replace(order, feed_seq=order.feed_seq + 1, venue_order_id=reported.venue_order_id,
                   state=ExecutionFeedState(status=reported.status, filled_qty=reported.filled_qty,
                                            filled_avg_price=reported.filled_avg_price,
                                            last_venue_seq=last_venue_seq, last_event_ts=last_event_ts))
