"""Order-feed rules (upstream §1.5): stale by seq / ts, state regressions, repeats, fill deltas, fingerprint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent
from torghut_execution_router.domain.feed import ExecutionFeedState, FeedVerdict, fill_delta, judge
from torghut_execution_router.domain.fingerprint import trade_update_fingerprint
from torghut_execution_router.domain.orders import EventSource, VenueEvent, VenueOrder

T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)


def state(status: OrderStatus = OrderStatus.NEW, filled: str = "0", avg: str | None = None, seq: int | None = None,
          ts: datetime | None = T0) -> ExecutionFeedState:
    return ExecutionFeedState(status=status, filled_qty=D(filled), filled_avg_price=D(avg) if avg else None,
                              last_venue_seq=seq, last_event_ts=ts)


def event(status: OrderStatus, filled: str = "0", avg: str | None = None, *, seq: int | None = None,
          at: datetime = T0, source: EventSource = EventSource.STREAM, fill_qty: str | None = None,
          kind: TradeEvent | None = None) -> VenueEvent:
    order = VenueOrder(venue=Adapter.ALPACA, client_order_id="c1", symbol="NVDA", side=Side.BUY, qty=D(10),
                       status=status, filled_qty=D(filled), filled_avg_price=D(avg) if avg else None)
    return VenueEvent(order=order, event=kind or TradeEvent.NEW, timestamp=at, source=source, venue_seq=seq,
                      fill_qty=D(fill_qty) if fill_qty else None)


LATER, EARLIER = T0 + timedelta(seconds=1), T0 - timedelta(seconds=1)


@pytest.mark.parametrize(("current", "incoming", "verdict"), [
    (state(), event(OrderStatus.PARTIALLY_FILLED, "4", "100", at=LATER), FeedVerdict.APPLY),
    (state(), event(OrderStatus.NEW), FeedVerdict.UNCHANGED),
    (state(ts=LATER), event(OrderStatus.FILLED, "10", "100", at=T0), FeedVerdict.STALE_BY_TS),
    (state(seq=5, ts=LATER), event(OrderStatus.FILLED, "10", "100", seq=4, at=LATER), FeedVerdict.STALE_BY_SEQ),
    # seq usable on both sides wins over the timestamp
    (state(seq=5, ts=LATER), event(OrderStatus.FILLED, "10", "100", seq=6, at=EARLIER), FeedVerdict.APPLY),
    # seq only on one side: fall back to the timestamp
    (state(seq=None, ts=LATER), event(OrderStatus.FILLED, "10", "100", seq=6, at=EARLIER), FeedVerdict.STALE_BY_TS),
    (state(OrderStatus.PARTIALLY_FILLED, "6", "100"), event(OrderStatus.PARTIALLY_FILLED, "4", "100", at=LATER),
     FeedVerdict.STALE_BY_STATE),
    (state(OrderStatus.FILLED, "10", "100"), event(OrderStatus.NEW, at=LATER), FeedVerdict.STALE_BY_STATE),
    # a fill racing a cancel is real (Nautilus): canceled -> filled applies
    (state(OrderStatus.CANCELED, "0"), event(OrderStatus.FILLED, "10", "100", at=LATER), FeedVerdict.APPLY),
    # a router-made event (unknown outcome) never loses to the venue's clock
    (state(OrderStatus.NEW, ts=LATER), event(OrderStatus.UNKNOWN, at=EARLIER, source=EventSource.ROUTER),
     FeedVerdict.APPLY),
    (state(OrderStatus.UNKNOWN, ts=None), event(OrderStatus.NEW, at=EARLIER), FeedVerdict.APPLY),
])
def test_judge(current: ExecutionFeedState, incoming: VenueEvent, verdict: FeedVerdict) -> None:
    assert judge(current, incoming) is verdict


@pytest.mark.parametrize(("current", "incoming", "expected"), [
    (state(), event(OrderStatus.PARTIALLY_FILLED, "4", "100", fill_qty="4"), (D(4), None)),       # explicit
    (state(OrderStatus.PARTIALLY_FILLED, "4", "100"), event(OrderStatus.FILLED, "10", "101"), (D(6), D("101.6667"))),
    (state(OrderStatus.PARTIALLY_FILLED, "4", "100"), event(OrderStatus.PARTIALLY_FILLED, "4", "100"), None),
    (state(), event(OrderStatus.CANCELED), None),
])
def test_fill_delta(current: ExecutionFeedState, incoming: VenueEvent, expected: tuple[D, D | None] | None) -> None:
    delta = fill_delta(current, incoming)
    assert (None if delta is None else (delta.qty, delta.price)) == expected


def fp(**overrides: object) -> str:
    fields: dict[str, object] = dict(account="paper-main", venue_order_id="v1", client_order_id="c1", event="fill",
                                     status="filled", filled_qty=D(10), filled_avg_price=D("100.5"), timestamp=T0)
    fields.update(overrides)
    return trade_update_fingerprint(**fields)  # type: ignore[arg-type]


def test_the_fingerprint_is_stable_and_tells_every_identifying_field_apart() -> None:
    base = fp()
    assert base == fp() == fp(filled_qty=D("10.00"), filled_avg_price=D("100.50"))
    assert base == fp(timestamp=T0.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")))
    for change in ({"account": "other"}, {"venue_order_id": None}, {"client_order_id": "c2"}, {"event": "new"},
                   {"status": "new"}, {"filled_qty": D(9)}, {"filled_avg_price": None},
                   {"timestamp": T0 + timedelta(microseconds=1)}):
        assert fp(**change) != base, change
