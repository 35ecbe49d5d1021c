"""The alpaca adapter with the real alpaca-py client against a local Alpaca-compatible server."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce
from torghut_execution_router.adapters.metrics import RouterMetrics
from torghut_execution_router.adapters.venues.alpaca.client import AlpacaAdapter
from torghut_execution_router.adapters.venues.alpaca.ratelimiter import RateLimiter
from torghut_execution_router.domain.orders import OrderRequest
from torghut_execution_router.domain.submission import SubmitKind


def request(coid: str = "th-order-1", qty: str = "10", order_type: OrderType = OrderType.MARKET,
            limit: str | None = None) -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="NVDA", side=Side.BUY, qty=D(qty), order_type=order_type,
                        limit_price=D(limit) if limit else None, time_in_force=TimeInForce.DAY, extended_hours=False,
                        reference_price=D(100), approved_at=datetime.now(UTC))


def adapter(fake: Any, *, timeout_s: float = 5.0) -> tuple[AlpacaAdapter, RouterMetrics]:
    metrics = RouterMetrics(CollectorRegistry())
    limiter = RateLimiter(200, min_wait_s=0.01, max_wait_s=2.0)
    return AlpacaAdapter(api_key=fake.key, secret_key=fake.secret, paper=True, base_url=fake.base_url,
                         timeout_s=timeout_s, limiter=limiter, rate_limited_retries=3, metrics=metrics), metrics


def posts(fake: Any) -> int:
    return sum(1 for method, path in fake.requests if (method, path) == ("POST", "/v2/orders"))


async def test_submit_places_the_order_with_our_client_order_id(fake_alpaca: Any) -> None:
    venue, _ = adapter(fake_alpaca)
    outcome = await venue.submit(request(order_type=OrderType.LIMIT, limit="101.5"))
    assert outcome.kind is SubmitKind.ACCEPTED
    assert outcome.order is not None and outcome.order.client_order_id == "th-order-1"
    stored = fake_alpaca.order_for("th-order-1")
    assert outcome.order.venue_order_id == stored["id"]
    assert (stored["qty"], stored["type"], stored["limit_price"], stored["side"]) == ("10.0", "limit", "101.5", "buy")
    assert [e.event.value for e in outcome.events] == ["new"]
    assert await venue.get_by_client_order_id("th-order-1") == outcome.order
    assert await venue.get_by_client_order_id("th-missing") is None
    await venue.close()


async def test_a_duplicate_client_order_id_is_looked_up_and_adopted(fake_alpaca: Any) -> None:
    existing = fake_alpaca.create({"client_order_id": "th-order-1", "symbol": "NVDA", "qty": 10, "side": "buy",
                                   "type": "market", "time_in_force": "day"})
    venue, _ = adapter(fake_alpaca)
    outcome = await venue.submit(request())
    assert outcome.kind is SubmitKind.ACCEPTED
    assert outcome.order is not None and outcome.order.venue_order_id == existing["id"]
    assert outcome.reason == "client_order_id_not_unique"
    assert len(fake_alpaca.orders) == 1, "never a second order"
    await venue.close()


@pytest.mark.parametrize(("status", "code", "message", "reason"), [
    (403, 40310000, "insufficient buying power", "alpaca_403:insufficient_buying_power"),
    (422, 40010001, "qty must be > 0", "alpaca_422:qty_must_be_0"),
])
async def test_an_explicit_refusal_is_a_rejection(fake_alpaca: Any, status: int, code: int, message: str,
                                                  reason: str) -> None:
    fake_alpaca.next_submit("error", status=status, code=code, message=message)
    venue, _ = adapter(fake_alpaca)
    outcome = await venue.submit(request())
    assert (outcome.kind, outcome.reason) == (SubmitKind.REJECTED, reason)
    assert fake_alpaca.orders == {} and posts(fake_alpaca) == 1, "a refusal is not retried"
    await venue.close()


async def test_a_429_waits_for_the_reset_then_succeeds(fake_alpaca: Any) -> None:
    fake_alpaca.next_submit("error", status=429, code=42910000, message="rate limit exceeded")
    venue, metrics = adapter(fake_alpaca)
    outcome = await venue.submit(request())
    assert outcome.kind is SubmitKind.ACCEPTED
    assert posts(fake_alpaca) == 2 and len(fake_alpaca.orders) == 1
    assert metrics.rate_limit_waits.labels(venue="alpaca")._value.get() >= 1
    await venue.close()


async def test_rate_limit_headers_drain_the_token_bucket(fake_alpaca: Any) -> None:
    venue, _ = adapter(fake_alpaca)
    fake_alpaca.remaining = 8
    await venue.submit(request())
    assert venue.limiter._bucket.tokens <= 7  # the server said 7 remain; our own count was higher


async def test_a_timeout_after_send_is_resolved_by_lookup_not_reported_rejected(fake_alpaca: Any) -> None:
    fake_alpaca.next_submit("slow", delay_s=1.0, create="before")
    venue, _ = adapter(fake_alpaca, timeout_s=0.3)
    outcome = await venue.submit(request())
    assert outcome.kind is SubmitKind.ACCEPTED and outcome.reason == "alpaca_timeout"
    assert outcome.order is not None and outcome.order.venue_order_id == fake_alpaca.order_for("th-order-1")["id"]
    assert posts(fake_alpaca) == 1, "the POST is never re-sent blindly"
    await venue.close()


async def test_a_timeout_with_nothing_to_find_yet_is_unknown(fake_alpaca: Any) -> None:
    fake_alpaca.next_submit("slow", delay_s=1.0, create="after")
    venue, _ = adapter(fake_alpaca, timeout_s=0.3)
    outcome = await venue.submit(request())
    assert outcome.kind is SubmitKind.UNKNOWN and outcome.reason == "alpaca_timeout"


async def test_a_5xx_is_ambiguous_and_looked_up(fake_alpaca: Any) -> None:
    fake_alpaca.next_submit("error", status=500, code=50010000, message="internal error")
    venue, _ = adapter(fake_alpaca)
    outcome = await venue.submit(request())
    assert outcome.kind is SubmitKind.UNKNOWN and outcome.reason == "alpaca_http_500"
    assert ("GET", "/v2/orders:by_client_order_id") in fake_alpaca.requests


async def test_cancel_and_list_open(fake_alpaca: Any) -> None:
    venue, _ = adapter(fake_alpaca)
    placed = await venue.submit(request(order_type=OrderType.LIMIT, limit="50"))
    assert placed.order is not None
    assert [o.client_order_id for o in await venue.list_open()] == ["th-order-1"]
    events = await venue.cancel(placed.order)
    assert [e.order.status for e in events] == [OrderStatus.CANCELED]
    assert await venue.list_open() == []
    assert await venue.cancel(placed.order) != [], "cancelling twice is harmless (422 not cancelable)"
    snapshot = await venue.account_snapshot("paper-main", datetime.now(UTC))
    assert snapshot.equity == D(100000) and snapshot.last_equity == D(99000)
