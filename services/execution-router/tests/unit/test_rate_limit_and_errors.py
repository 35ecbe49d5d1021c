"""The token bucket, Alpaca error reading, Alpaca wire parsing and the LEAN contract."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from alpaca.trading.models import Order as AlpacaOrder
from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_execution_router.adapters.venues.alpaca.wire import event_from_stream, order_from_alpaca, parse_time
from torghut_execution_router.domain.alpaca_errors import ErrorKind, read_lookup_error, read_submit_error
from torghut_execution_router.domain.lean_contract import LeanContractViolation, order_from_answer
from torghut_execution_router.domain.orders import OrderRequest
from torghut_execution_router.domain.ratelimit import TokenBucket


def test_the_bucket_allows_the_budget_then_waits_for_the_refill() -> None:
    bucket = TokenBucket.per_minute(200, now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(200))
    assert bucket.take(0.0) == pytest.approx(0.3)          # one token every 60/200 s
    assert bucket.take(0.3) == 0.0


def test_headers_only_make_the_bucket_stricter() -> None:
    bucket = TokenBucket.per_minute(200, now=0.0)
    bucket.observe(0.0, remaining=500, reset_at=None)
    assert bucket.tokens == 200
    bucket.observe(0.0, remaining=0, reset_at=30.0)
    assert bucket.take(10.0) == pytest.approx(20.0)        # blocked until the venue's reset
    assert bucket.take(30.0) == 0.0


def test_a_429_empties_the_bucket_and_waits_until_reset_within_bounds() -> None:
    bucket = TokenBucket.per_minute(200, now=100.0)
    assert bucket.throttled(100.0, reset_at=102.0, min_wait_s=0.05, max_wait_s=60) == pytest.approx(2.0)
    assert bucket.throttled(100.0, reset_at=99.0, min_wait_s=0.05, max_wait_s=60) == pytest.approx(0.05)
    assert bucket.throttled(100.0, reset_at=10_000.0, min_wait_s=0.05, max_wait_s=60) == 60


@pytest.mark.parametrize(("status", "message", "kind"), [
    (422, "client_order_id must be unique", ErrorKind.DUPLICATE_CLIENT_ORDER_ID),
    (403, "insufficient buying power", ErrorKind.REJECTED),
    (422, "qty must be > 0", ErrorKind.REJECTED),
    (400, "invalid order type", ErrorKind.REJECTED),
    (429, "rate limit exceeded", ErrorKind.RATE_LIMITED),
    (500, "internal server error", ErrorKind.AMBIGUOUS),
    (503, "", ErrorKind.AMBIGUOUS),
    (504, "gateway timeout", ErrorKind.AMBIGUOUS),
    (None, "connection reset", ErrorKind.AMBIGUOUS),
])
def test_reading_a_submit_error(status: int | None, message: str, kind: ErrorKind) -> None:
    assert read_submit_error(status, None, message).kind is kind


def test_a_refusal_names_status_and_message() -> None:
    assert read_submit_error(403, 40310000, "insufficient buying power").reason == \
        "alpaca_403:insufficient_buying_power"
    assert read_lookup_error(404).kind is ErrorKind.NOT_FOUND
    assert read_lookup_error(502).kind is ErrorKind.AMBIGUOUS


ALPACA_ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "c1",
    "created_at": "2026-02-12T15:31:02.123456789Z", "updated_at": "2026-02-12T15:31:03.5Z",
    "submitted_at": "2026-02-12T15:31:02.2Z", "filled_at": None, "expired_at": None, "canceled_at": None,
    "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
    "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": "NVDA", "asset_class": "us_equity",
    "notional": None, "qty": "10", "filled_qty": "4", "filled_avg_price": "100.5", "order_class": "simple",
    "order_type": "limit", "type": "limit", "side": "buy", "time_in_force": "day", "limit_price": "101",
    "stop_price": None, "status": "partially_filled", "extended_hours": False, "legs": None,
    "trail_percent": None, "trail_price": None, "hwm": None,
}


def test_reading_an_alpaca_order_the_sdk_also_accepts() -> None:
    AlpacaOrder(**ALPACA_ORDER)  # the shape the test server serves is the SDK's own
    order = order_from_alpaca(ALPACA_ORDER)
    assert order is not None
    assert (order.status, order.filled_qty, order.filled_avg_price, order.order_type, order.limit_price) == \
        (OrderStatus.PARTIALLY_FILLED, D(4), D("100.5"), OrderType.LIMIT, D(101))
    assert order.submitted_at == datetime(2026, 2, 12, 15, 31, 2, 200000, tzinfo=UTC)


@pytest.mark.parametrize("broken", [{"client_order_id": None}, {"status": "weird"}, {"side": "sideways"},
                                    {"qty": None}])
def test_an_order_without_identity_or_state_is_unreadable(broken: dict[str, object]) -> None:
    assert order_from_alpaca({**ALPACA_ORDER, **broken}) is None


def test_reading_a_trade_update_frame() -> None:
    frame = {"event": "partial_fill", "timestamp": "2026-02-12T15:31:03.5Z", "position_qty": "4", "price": "100.5",
             "qty": "4", "execution_id": "e1", "order": ALPACA_ORDER}
    event = event_from_stream(frame)
    assert event is not None
    assert (event.event, event.fill_qty, event.fill_price, event.position_qty) == \
        (TradeEvent.PARTIAL_FILL, D(4), D("100.5"), D(4))
    unknown_event = event_from_stream({**frame, "event": "restated"})
    assert unknown_event is not None and unknown_event.event is TradeEvent.PARTIAL_FILL  # from the status
    assert event_from_stream({"event": "new"}) is None
    assert parse_time("2026-02-12T15:31:03") is None  # naive timestamps are refused


REQUEST = OrderRequest(client_order_id="c1", symbol="NVDA", side=Side.BUY, qty=D(10), order_type=OrderType.MARKET,
                       limit_price=None, time_in_force=TimeInForce.DAY, extended_hours=False,
                       reference_price=D(100), approved_at=datetime(2026, 2, 12, tzinfo=UTC))


@pytest.mark.parametrize(("body", "problem"), [
    ([], "not a JSON object"),
    ({"status": "new", "symbol": "NVDA", "qty": "10"}, "lacks id"),
    ({"id": "1", "status": "new", "symbol": "AAPL", "qty": "10"}, "symbol"),
    ({"id": "1", "status": "new", "symbol": "NVDA", "qty": "0"}, "qty must be > 0"),
    ({"id": "1", "status": "new", "symbol": "NVDA", "qty": "10", "client_order_id": "other"}, "not ours"),
    ({"id": "1", "status": "teleported", "symbol": "NVDA", "qty": "10"}, "unknown status"),
])
def test_lean_contract_violations(body: object, problem: str) -> None:
    with pytest.raises(LeanContractViolation, match=problem):
        order_from_answer(body, client_order_id="c1", request=REQUEST)


def test_a_lean_answer_that_keeps_the_contract() -> None:
    order = order_from_answer({"id": "L-1", "status": "accepted", "symbol": "NVDA", "qty": "10",
                               "client_order_id": "c1"}, client_order_id="c1", request=REQUEST)
    assert (order.venue_order_id, order.status, order.side) == ("L-1", OrderStatus.ACCEPTED, Side.BUY)
