"""Alpaca through alpaca-py's ``TradingClient``, off the event loop, rate-limited, ambiguity-aware.

* Every call runs in a worker thread (``asyncio.to_thread``): the SDK's REST client is synchronous.
* The SDK's own retry (3 s sleeps, resending POSTs on 429/504) is switched off; this adapter waits on
  its token bucket and the rate-limit headers instead, and resends only what was refused (429).
* Requests carry a timeout (the SDK sets none). A timeout or a 5xx after sending is *unknown*: one
  lookup by client_order_id, then the reconciler; never "rejected" before the venue says so.
* "client_order_id must be unique" means the order exists (an earlier attempt): look it up, adopt it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
import structlog
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from torghut_contracts.enums import Adapter, OrderStatus, OrderType
from torghut_contracts.models import AccountSnapshot, Position

from ....domain.alpaca_errors import ErrorKind, read_lookup_error, read_submit_error
from ....domain.orders import EventSource, OrderRequest, VenueEvent, VenueOrder, state_event
from ....domain.submission import SubmitKind, SubmitOutcome
from ....domain.trade_update import snapshot_id
from ...metrics import RouterMetrics
from ..base import VenueUnavailable
from .ratelimiter import RateLimiter
from .wire import order_from_alpaca, parse_decimal

log = structlog.get_logger("torghut.execution.alpaca")
T = TypeVar("T")


class TimedTradingClient(TradingClient):
    """``TradingClient`` with a request timeout, no SDK retries, and a hook that sees every response."""

    def __init__(self, api_key: str, secret_key: str, *, paper: bool, url_override: str | None, timeout_s: float,
                 on_response: Callable[[requests.Response], None]) -> None:
        super().__init__(api_key, secret_key, paper=paper, raw_data=True, url_override=url_override)
        self._retry = 0  # alpaca-py would otherwise sleep in our thread and resend POSTs on 429/504
        self._timeout_s = timeout_s

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            on_response(response)
            return response

        self._session.hooks["response"].append(hook)

    def _one_request(self, method: str, url: str, opts: dict[str, Any], retry: int) -> Any:
        return super()._one_request(method, url, {**opts, "timeout": self._timeout_s}, retry)


def _error_body(error: APIError) -> tuple[int | None, str]:
    try:
        body = json.loads(str(error))
        return (int(body["code"]) if "code" in body else None), str(body.get("message", ""))
    except (ValueError, TypeError, KeyError):
        return None, str(error)


def _headers(error: APIError) -> dict[str, str]:
    response = error.response
    return dict(response.headers) if response is not None else {}


def order_request(request: OrderRequest) -> MarketOrderRequest | LimitOrderRequest:
    """alpaca-py's request; it carries floats, so Decimals are converted here at the boundary."""
    common: dict[str, Any] = {
        "symbol": request.symbol, "qty": float(request.qty),
        "side": OrderSide.BUY if request.side.value == "buy" else OrderSide.SELL,
        "time_in_force": AlpacaTimeInForce(request.time_in_force.value),
        "client_order_id": request.client_order_id, "extended_hours": request.extended_hours or None,
    }
    if request.order_type is OrderType.LIMIT:
        assert request.limit_price is not None
        return LimitOrderRequest(limit_price=float(request.limit_price), **common)
    return MarketOrderRequest(**common)


class AlpacaAdapter:
    name = Adapter.ALPACA

    def __init__(self, *, api_key: str, secret_key: str, paper: bool, base_url: str | None, timeout_s: float,
                 limiter: RateLimiter, rate_limited_retries: int, metrics: RouterMetrics) -> None:
        self.limiter = limiter
        self.metrics = metrics
        self.rate_limited_retries = rate_limited_retries
        self.client = TimedTradingClient(api_key, secret_key, paper=paper, url_override=base_url,
                                         timeout_s=timeout_s, on_response=lambda r: limiter.observe(r.headers))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if await self.limiter.acquire():
            self.metrics.rate_limit_waits.labels(venue=self.name.value).inc()
        return await asyncio.to_thread(fn, *args)

    async def _throttled(self, error: APIError) -> None:
        wait = self.limiter.throttled(_headers(error))
        self.metrics.rate_limit_waits.labels(venue=self.name.value).inc()
        await asyncio.sleep(wait)

    # -- the venue interface -----------------------------------------------------------------------
    async def submit(self, request: OrderRequest) -> SubmitOutcome:
        try:
            body = order_request(request)
        except ValueError as exc:  # the SDK refused to build it: nothing was sent
            return SubmitOutcome(SubmitKind.REJECTED, reason=f"alpaca_request_invalid:{exc}"[:200])
        for _attempt in range(self.rate_limited_retries + 1):
            try:
                raw = await self._call(self.client.submit_order, body)
            except APIError as error:
                code, message = _error_body(error)
                reading = read_submit_error(error.status_code, code, message)
                if reading.kind is ErrorKind.RATE_LIMITED:
                    await self._throttled(error)
                    continue
                if reading.kind is ErrorKind.DUPLICATE_CLIENT_ORDER_ID:
                    return await self._adopt(request.client_order_id, reading.reason)
                if reading.kind is ErrorKind.REJECTED:
                    log.info("alpaca refused order", client_order_id=request.client_order_id, reason=reading.reason)
                    return SubmitOutcome(SubmitKind.REJECTED, reason=reading.reason)
                return await self._adopt(request.client_order_id, reading.reason)
            except (requests.RequestException, ValueError) as exc:  # timeout, reset, unreadable answer
                reason = "alpaca_timeout" if isinstance(exc, requests.Timeout) else "alpaca_transport_error"
                log.warning("alpaca submit outcome unknown", client_order_id=request.client_order_id, error=repr(exc))
                return await self._adopt(request.client_order_id, reason)
            order = order_from_alpaca(raw)
            if order is None:
                return await self._adopt(request.client_order_id, "alpaca_answer_unreadable")
            return SubmitOutcome(SubmitKind.ACCEPTED, [state_event(order, EventSource.SUBMIT)], order=order)
        return SubmitOutcome(SubmitKind.REJECTED, reason="alpaca_rate_limited")

    async def _adopt(self, client_order_id: str, reason: str) -> SubmitOutcome:
        """Look the order up after a duplicate or an ambiguous answer: found = accepted, else unknown."""
        try:
            order = await self.get_by_client_order_id(client_order_id)
        except VenueUnavailable:
            order = None
        if order is None:
            return SubmitOutcome(SubmitKind.UNKNOWN, reason=reason)
        kind = SubmitKind.REJECTED if order.status is OrderStatus.REJECTED else SubmitKind.ACCEPTED
        return SubmitOutcome(kind, [state_event(order, EventSource.RECONCILE)], reason=reason, order=order)

    async def get_by_client_order_id(self, client_order_id: str) -> VenueOrder | None:
        for _attempt in range(self.rate_limited_retries + 1):
            try:
                raw = await self._call(self.client.get_order_by_client_id, client_order_id)
            except APIError as error:
                reading = read_lookup_error(error.status_code)
                if reading.kind is ErrorKind.NOT_FOUND:
                    return None
                if reading.kind is ErrorKind.RATE_LIMITED:
                    await self._throttled(error)
                    continue
                raise VenueUnavailable(reading.reason) from error
            except (requests.RequestException, ValueError) as exc:
                raise VenueUnavailable(repr(exc)) from exc
            order = order_from_alpaca(raw)
            if order is None:
                raise VenueUnavailable("alpaca_answer_unreadable")
            return order
        raise VenueUnavailable("alpaca_rate_limited")

    async def list_open(self) -> list[VenueOrder]:
        try:
            raw = await self._call(self.client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500))
        except (APIError, requests.RequestException, ValueError) as exc:
            raise VenueUnavailable(repr(exc)) from exc
        orders = [order_from_alpaca(item) for item in raw or []]
        return [o for o in orders if o is not None]

    async def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        venue_order_id = order.venue_order_id
        if venue_order_id is None:
            found = await self.get_by_client_order_id(order.client_order_id)
            if found is None or found.venue_order_id is None:
                return []
            venue_order_id = found.venue_order_id
        try:
            await self._call(self.client.cancel_order_by_id, venue_order_id)
        except APIError as error:
            if error.status_code not in (404, 422):  # 422: no longer cancelable (filled, already canceled)
                raise VenueUnavailable(f"alpaca_cancel_http_{error.status_code}") from error
        except (requests.RequestException, ValueError) as exc:
            raise VenueUnavailable(repr(exc)) from exc
        after = await self.get_by_client_order_id(order.client_order_id)
        return [state_event(after, EventSource.RECONCILE)] if after is not None else []

    async def account_snapshot(self, account: str, as_of: datetime) -> AccountSnapshot:
        try:
            raw_account: dict[str, Any] = await self._call(self.client.get_account)  # type: ignore[arg-type]
            raw_positions: list[dict[str, Any]] = await self._call(self.client.get_all_positions)  # type: ignore[arg-type]
        except (APIError, requests.RequestException, ValueError) as exc:
            raise VenueUnavailable(repr(exc)) from exc
        positions = []
        for item in raw_positions or []:
            qty = parse_decimal(item.get("qty")) or Decimal(0)
            if item.get("side") == "short" and qty > 0:
                qty = -qty
            avg = parse_decimal(item.get("avg_entry_price"))
            positions.append(Position(symbol=item["symbol"], qty=qty,
                                      avg_entry_price=avg if avg and avg > 0 else None,
                                      market_value=parse_decimal(item.get("market_value")) or Decimal(0),
                                      unrealized_pl=parse_decimal(item.get("unrealized_pl"))))
        return AccountSnapshot(
            snapshot_id=snapshot_id(account, Adapter.ALPACA, as_of), account=account, venue=Adapter.ALPACA,
            as_of=as_of, equity=parse_decimal(raw_account.get("equity")) or Decimal(0),
            last_equity=parse_decimal(raw_account.get("last_equity")),
            cash=parse_decimal(raw_account.get("cash")) or Decimal(0),
            buying_power=max(parse_decimal(raw_account.get("buying_power")) or Decimal(0), Decimal(0)),
            positions=positions)

    async def close(self) -> None:
        await asyncio.to_thread(self.client._session.close)
