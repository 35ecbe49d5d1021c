"""A published trade update parses with alpaca-py's own ``TradeUpdate`` model, whatever the venue.

The per-venue integration tests (``integration/test_trade_updates_parse_with_alpaca.py``) read what
the router really publishes; these pin the builder, the contracts example and where our enums and
Alpaca's differ.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from alpaca.trading import enums as alpaca_enums
from alpaca.trading.models import TradeUpdate as AlpacaTradeUpdate
from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_contracts.examples import example
from torghut_contracts.models.execution import derived_execution_id, derived_order_id
from torghut_execution_router.domain.orders import EventSource, FillDelta, VenueEvent, VenueOrder, event_for_status
from torghut_execution_router.domain.trade_update import build_trade_update, event_fingerprint

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ALPACA_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"


def venue_event(venue: Adapter, status: OrderStatus = OrderStatus.FILLED, **order: Any) -> VenueEvent:
    values: dict[str, Any] = dict(
        venue=venue, client_order_id="th-0123456789abcdef", symbol="NVDA", side=Side.BUY, qty=D(10),
        status=status, venue_order_id={Adapter.ALPACA: ALPACA_ID, Adapter.LEAN: "L-1",
                                       Adapter.PAPER: "paper-0123456789abcdef01234567"}[venue],
        filled_qty=D(10) if status is OrderStatus.FILLED else D(0),
        filled_avg_price=D("100.05") if status is OrderStatus.FILLED else None, order_type=OrderType.LIMIT,
        limit_price=D("101"), time_in_force=TimeInForce.GTC, submitted_at=T0, updated_at=T0 + timedelta(seconds=1))
    values.update(order)
    return VenueEvent(order=VenueOrder(**values), event=event_for_status(status), timestamp=T0 + timedelta(seconds=1),
                      source=EventSource.PAPER if venue is Adapter.PAPER else EventSource.STREAM,
                      position_qty=D(10) if status is OrderStatus.FILLED else None)


def wire(event: VenueEvent) -> bytes:
    fingerprint = event_fingerprint("paper-main", event)
    delta = FillDelta(event.order.filled_qty, event.order.filled_avg_price) if event.order.filled_qty else None
    update = build_trade_update(account="paper-main", event=event, fingerprint=fingerprint, feed_seq=1,
                                decision_id="dec-1", fallback_reason=None, delta=delta)
    return topics.TRADE_UPDATES.encode(update)


def test_the_contracts_example_parses_with_alpacas_model(as_alpaca: Any) -> None:
    ours, theirs = as_alpaca(topics.TRADE_UPDATES.encode(example(topics.TRADE_UPDATES.name)))
    assert theirs.event == alpaca_enums.TradeEvent.FILL and theirs.order.status is alpaca_enums.OrderStatus.FILLED
    assert (theirs.qty, theirs.price, theirs.position_qty) == (10.0, 160.27, 10.0)
    assert theirs.order.id == derived_order_id(ours.order.client_order_id)


@pytest.mark.parametrize("venue", list(Adapter))
@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.UNKNOWN])
def test_every_status_a_venue_reports_parses_with_alpacas_model(venue: Adapter, status: OrderStatus,
                                                                as_alpaca: Any) -> None:
    ours, _ = as_alpaca(wire(venue_event(venue, status)))
    assert ours.order.status is status


def test_the_unknown_outcome_is_the_one_status_alpaca_refuses() -> None:
    """``unknown`` (sent, outcome not known: reconcile, never 'rejected') is Torghut's, not Alpaca's."""
    body = json.loads(wire(venue_event(Adapter.ALPACA, OrderStatus.UNKNOWN, venue_order_id=None)))
    assert (body["event"], body["order"]["status"]) == ("pending_new", "unknown")
    with pytest.raises(ValidationError) as refused:
        AlpacaTradeUpdate.model_validate(body)
    assert [e["loc"] for e in refused.value.errors()] == [("order", "status")]


def test_our_enums_against_alpacas() -> None:
    """Where our values and alpaca-py's differ (alpaca-py 0.44), exactly."""
    def missing(ours: Any, theirs: Any) -> set[str]:
        return {v.value for v in ours} - {v.value for v in theirs}

    assert missing(OrderStatus, alpaca_enums.OrderStatus) == {"unknown"}
    assert missing(OrderType, alpaca_enums.OrderType) == set()
    assert missing(TimeInForce, alpaca_enums.TimeInForce) == set()
    assert missing(Side, alpaca_enums.OrderSide) == set()
    # Alpaca's documented events alpaca-py's enum lacks; its TradeUpdate.event is `TradeEvent | str`,
    # so these parse as plain strings (the router publishes done_for_day, stopped, suspended,
    # calculated and held when a venue reports that status; never the two *_rejected ones).
    not_in_enum = {"calculated", "done_for_day", "held", "order_cancel_rejected", "order_replace_rejected",
                   "stopped", "suspended"}
    assert missing(TradeEvent, alpaca_enums.TradeEvent) == not_in_enum
    for value in not_in_enum:
        body = json.loads(wire(venue_event(Adapter.PAPER, OrderStatus.NEW)))
        assert AlpacaTradeUpdate.model_validate({**body, "event": value}).event == value


def test_ids_and_times_come_from_the_venues_facts_and_replay_identically() -> None:
    paper = venue_event(Adapter.PAPER, created_at=None, submitted_at=None, updated_at=None)
    assert wire(paper) == wire(paper), "the same event, the same bytes"
    update = topics.TRADE_UPDATES.decode(wire(paper))
    assert update.order.id == derived_order_id("th-0123456789abcdef") == uuid.uuid5(
        uuid.UUID("1eb59601-d89f-57aa-ad43-645c27642efe"), "th-0123456789abcdef")
    assert update.execution_id == derived_execution_id(update.fingerprint)
    assert update.order.created_at == update.order.submitted_at == update.order.updated_at == update.timestamp
    assert update.order.venue_order_id == "paper-0123456789abcdef01234567", "v1's field keeps the venue's id"
    assert (update.order.type, update.order.order_class.value, update.order.extended_hours) == \
        (OrderType.LIMIT, "simple", False)

    lean = topics.TRADE_UPDATES.decode(wire(venue_event(Adapter.LEAN, extended_hours=True)))
    assert (lean.order.id, lean.order.venue_order_id) == (derived_order_id("th-0123456789abcdef"), "L-1")
    assert lean.order.extended_hours is True

    alpaca = topics.TRADE_UPDATES.decode(wire(venue_event(Adapter.ALPACA, created_at=T0 - timedelta(seconds=1))))
    assert alpaca.order.id == uuid.UUID(ALPACA_ID)
    assert alpaca.order.created_at == T0 - timedelta(seconds=1) and alpaca.order.submitted_at == T0
    assert alpaca.execution_id is None, "no execution id is invented for an Alpaca event without one"
    execution = uuid.uuid4()
    streamed = venue_event(Adapter.ALPACA)
    streamed = VenueEvent(order=streamed.order, event=streamed.event, timestamp=streamed.timestamp,
                          source=streamed.source, execution_id=execution)
    assert topics.TRADE_UPDATES.decode(wire(streamed)).execution_id == execution
    unacknowledged = topics.TRADE_UPDATES.decode(wire(venue_event(Adapter.ALPACA, OrderStatus.REJECTED,
                                                                  venue_order_id=None)))
    assert unacknowledged.order.id == derived_order_id("th-0123456789abcdef")
