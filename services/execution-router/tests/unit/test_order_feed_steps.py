"""The order-feed state machine (``domain.feed.advance``): how one event moves an execution, what it
publishes, and the invariants a whole stream of events keeps, whatever its order or repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent
from torghut_execution_router.domain.feed import (
    ExecutionFeedState,
    FeedOrder,
    FeedVerdict,
    advance,
    advance_all,
    enrich,
    unlinked,
)
from torghut_execution_router.domain.orders import TERMINAL_STATUSES, EventSource, VenueEvent, VenueOrder

T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)
ACCOUNT = "paper-main"


def claimed(**state: object) -> FeedOrder:
    """An execution as claimed: pending, nothing filled, nothing applied yet."""
    values: dict[str, object] = dict(status=OrderStatus.PENDING_NEW, filled_qty=D(0), filled_avg_price=None,
                                     last_venue_seq=None, last_event_ts=None)
    values.update(state)
    return FeedOrder(state=ExecutionFeedState(**values), feed_seq=0, venue_order_id=None,  # type: ignore[arg-type]
                     extended_hours=False, decision_id="dec-1", fallback_reason=None)


def event(kind: TradeEvent, status: OrderStatus, filled: str = "0", avg: str | None = None, *, seconds: int = 0,
          seq: int | None = None, source: EventSource = EventSource.STREAM, venue_order_id: str | None = "v1",
          fill_qty: str | None = None) -> VenueEvent:
    order = VenueOrder(venue=Adapter.ALPACA, client_order_id="c1", symbol="NVDA", side=Side.BUY, qty=D(10),
                       status=status, venue_order_id=venue_order_id, filled_qty=D(filled),
                       filled_avg_price=D(avg) if avg else None)
    return VenueEvent(order=order, event=kind, timestamp=T0 + timedelta(seconds=seconds), source=source,
                      venue_seq=seq, fill_qty=D(fill_qty) if fill_qty else None)


NEW = event(TradeEvent.NEW, OrderStatus.NEW)
PARTIAL = event(TradeEvent.PARTIAL_FILL, OrderStatus.PARTIALLY_FILLED, "4", "100", seconds=1, fill_qty="4")
FILL = event(TradeEvent.FILL, OrderStatus.FILLED, "10", "101", seconds=2)
CANCELED = event(TradeEvent.CANCELED, OrderStatus.CANCELED, seconds=1)
REJECTED = event(TradeEvent.REJECTED, OrderStatus.REJECTED, seconds=1)
EXPIRED = event(TradeEvent.EXPIRED, OrderStatus.EXPIRED, "4", "100", seconds=3)
REPLACED = event(TradeEvent.REPLACED, OrderStatus.REPLACED, seconds=1)


@pytest.mark.parametrize(("events", "verdicts", "status", "filled", "feed_seq"), [
    ([NEW, PARTIAL, FILL], ["apply"] * 3, OrderStatus.FILLED, D(10), 3),
    ([NEW, NEW], ["apply", "unchanged"], OrderStatus.NEW, D(0), 1),                      # a repeat changes nothing
    ([NEW, FILL, PARTIAL], ["apply", "apply", "stale_by_ts"], OrderStatus.FILLED, D(10), 2),
    ([NEW, CANCELED, NEW], ["apply", "apply", "stale_by_ts"], OrderStatus.CANCELED, D(0), 2),
    ([NEW, REJECTED], ["apply", "apply"], OrderStatus.REJECTED, D(0), 2),
    ([NEW, PARTIAL, EXPIRED], ["apply"] * 3, OrderStatus.EXPIRED, D(4), 3),
    ([NEW, REPLACED], ["apply", "apply"], OrderStatus.REPLACED, D(0), 2),
    # terminal, then an old-looking but later-stamped open state: never back from terminal
    ([NEW, CANCELED, event(TradeEvent.NEW, OrderStatus.NEW, seconds=5)], ["apply", "apply", "stale_by_state"],
     OrderStatus.CANCELED, D(0), 2),
    # a fill racing a cancel is real: canceled -> filled applies
    ([NEW, CANCELED, FILL], ["apply"] * 3, OrderStatus.FILLED, D(10), 3),
])
def test_a_stream_of_events_moves_the_execution(events: list[VenueEvent], verdicts: list[str],
                                                status: OrderStatus, filled: D, feed_seq: int) -> None:
    steps = advance_all(ACCOUNT, claimed(), events)
    assert [s.verdict.value for s in steps] == verdicts
    last = steps[-1].order
    assert last is not None and (last.state.status, last.state.filled_qty, last.feed_seq) == (status, filled, feed_seq)
    assert [s.update is not None for s in steps] == [s.applied for s in steps], "only applied events publish"
    assert [s.update.feed_seq for s in steps if s.update] == list(range(1, feed_seq + 1))


def test_an_applied_fill_publishes_its_own_fill_and_the_execution_identity() -> None:
    order = FeedOrder(state=ExecutionFeedState(OrderStatus.PARTIALLY_FILLED, D(4), D(100), 7, T0), feed_seq=2,
                      venue_order_id="v1", extended_hours=True, decision_id="dec-9", fallback_reason="lean_unhealthy")
    step = advance(ACCOUNT, order, event(TradeEvent.FILL, OrderStatus.FILLED, "10", "101", seconds=1, seq=8))
    assert step.update is not None and step.order is not None
    assert (step.update.fill_qty, step.update.fill_price, step.update.feed_seq) == (D(6), D("101.6667"), 3)
    assert (step.update.decision_id, step.update.fallback_reason) == ("dec-9", "lean_unhealthy")
    assert (step.order.state.last_venue_seq, step.order.state.last_event_ts) == (8, T0 + timedelta(seconds=1))


def test_the_routers_own_event_does_not_move_the_venue_cursors() -> None:
    order = claimed(status=OrderStatus.NEW, last_event_ts=T0, last_venue_seq=3)
    step = advance(ACCOUNT, order, event(TradeEvent.PENDING_NEW, OrderStatus.UNKNOWN, seconds=-5,
                                         source=EventSource.ROUTER))
    assert step.applied and step.order is not None
    assert (step.order.state.last_event_ts, step.order.state.last_venue_seq) == (T0, 3)


def test_what_an_event_omits_comes_from_the_execution() -> None:
    order = FeedOrder(state=claimed().state, feed_seq=0, venue_order_id="v-known", extended_hours=True,
                      decision_id="d", fallback_reason=None)
    enriched = enrich(event(TradeEvent.NEW, OrderStatus.NEW, venue_order_id=None), order)
    assert (enriched.order.venue_order_id, enriched.order.extended_hours) == ("v-known", True)
    step = advance(ACCOUNT, order, event(TradeEvent.NEW, OrderStatus.NEW, venue_order_id=None))
    assert step.event == enriched and step.update is not None and step.update.order.venue_order_id == "v-known"


def test_an_event_for_an_unknown_order_is_kept_not_applied() -> None:
    step = unlinked(ACCOUNT, NEW)
    assert (step.verdict, step.update, step.order, step.applied) == (FeedVerdict.UNLINKED, None, None, False)
    assert step.fingerprint == advance(ACCOUNT, claimed(), NEW).fingerprint


STATUSES = [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED,
            OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.PENDING_CANCEL]
events_strategy = st.lists(st.builds(
    lambda status, filled, seconds, seq, source: event(
        TradeEvent.NEW, status, str(filled), "100" if filled else None, seconds=seconds, seq=seq, source=source),
    st.sampled_from(STATUSES), st.integers(0, 10), st.integers(-5, 5), st.none() | st.integers(0, 5),
    st.sampled_from([EventSource.STREAM, EventSource.RECONCILE, EventSource.ROUTER])), max_size=12)


@settings(max_examples=300, deadline=None)
@given(events_strategy)
def test_whatever_the_order_of_events_the_feed_never_goes_back(events: list[VenueEvent]) -> None:
    order = claimed()
    for step in advance_all(ACCOUNT, claimed(), events):
        after = step.order
        assert after is not None
        assert after.state.filled_qty >= order.state.filled_qty
        assert after.feed_seq == order.feed_seq + (1 if step.applied else 0)
        if order.state.status in TERMINAL_STATUSES:
            assert after.state.status in TERMINAL_STATUSES
        order = after


@settings(max_examples=200, deadline=None)
@given(events_strategy)
def test_a_redelivered_event_is_never_applied_twice(events: list[VenueEvent]) -> None:
    order = claimed()
    for step in advance_all(ACCOUNT, claimed(), events):
        assert step.order is not None
        order = step.order
        again = advance(ACCOUNT, order, step.event)
        assert again.fingerprint == step.fingerprint
        assert not (step.applied and again.applied), "the same event twice publishes once"
