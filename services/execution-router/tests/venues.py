"""Local stand-ins for the venues we cannot reach, speaking their real protocols on loopback.

* :class:`FakeAlpaca` is an Alpaca-compatible trading server: the REST paths alpaca-py calls
  (``/v2/account``, ``/v2/positions``, ``POST/GET /v2/orders``, ``/v2/orders:by_client_order_id``,
  ``DELETE /v2/orders/{id}``) with Alpaca's JSON shapes, error bodies (``{"code","message"}``) and
  rate-limit headers, and the ``/stream`` websocket (authenticate, listen, binary ``trade_updates``
  frames). Tests drive the real alpaca-py client against it and script its misbehaviour.
* :class:`FakeLeanRunner` serves upstream's LEAN runner contract (``/v1/orders/submit`` ...).

Both run in the test's event loop under uvicorn on an ephemeral port (the ``fake_alpaca`` and
``fake_lean`` fixtures in conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

KEY, SECRET = "test-key", "test-secret"


def iso(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


@dataclass
class SubmitScript:
    """How the next ``POST /v2/orders`` behaves: ``ok``, an error ``status``, or ``slow`` (answer late)."""

    kind: str = "ok"
    status: int = 200
    code: int = 0
    message: str = ""
    delay_s: float = 0.0
    create: str = "before"  # slow submits: create the order "before" answering, "after" the delay, or "never"


@dataclass
class FakeAlpaca:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_client: dict[str, str] = field(default_factory=dict)
    script: deque[SubmitScript] = field(default_factory=deque)
    requests: list[tuple[str, str]] = field(default_factory=list)
    sockets: set[WebSocket] = field(default_factory=set)
    connections: int = 0
    remaining: int = 200
    base_url: str = ""
    stream_url: str = ""
    key: str = KEY
    secret: str = SECRET

    def next_submit(self, kind: str = "ok", **how: Any) -> None:
        """Script the next ``POST /v2/orders`` (see :class:`SubmitScript`)."""
        self.script.append(SubmitScript(kind=kind, **how))

    # -- state helpers -----------------------------------------------------------------------------
    def order_json(self, body: dict[str, Any]) -> dict[str, Any]:
        now = iso()
        order_type = body.get("type", "market")
        return {
            "id": str(uuid.uuid4()), "client_order_id": body["client_order_id"], "created_at": now,
            "updated_at": now, "submitted_at": now, "filled_at": None, "expired_at": None, "canceled_at": None,
            "failed_at": None, "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": body["symbol"], "asset_class": "us_equity",
            "notional": None, "qty": str(body["qty"]), "filled_qty": "0", "filled_avg_price": None,
            "order_class": "simple", "order_type": order_type, "type": order_type, "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": str(body["limit_price"]) if body.get("limit_price") is not None else None,
            "stop_price": None, "status": "new", "extended_hours": bool(body.get("extended_hours")),
            "legs": None, "trail_percent": None, "trail_price": None, "hwm": None,
        }

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self.order_json(body)
        self.orders[order["id"]] = order
        self.by_client[order["client_order_id"]] = order["id"]
        return order

    def order_for(self, client_order_id: str) -> dict[str, Any]:
        return self.orders[self.by_client[client_order_id]]

    def set_fill(self, client_order_id: str, filled_qty: str, price: str) -> dict[str, Any]:
        order = self.order_for(client_order_id)
        order["filled_qty"] = filled_qty
        order["filled_avg_price"] = price
        order["status"] = "filled" if Decimal(filled_qty) == Decimal(order["qty"]) else "partially_filled"
        order["updated_at"] = iso()
        if order["status"] == "filled":
            order["filled_at"] = order["updated_at"]
        return order

    async def push(self, event: str, order: dict[str, Any], **extra: Any) -> None:
        frame = {"stream": "trade_updates",
                 "data": {"event": event, "timestamp": order["updated_at"], "order": order, **extra}}
        for ws in list(self.sockets):
            await ws.send_bytes(json.dumps(frame).encode())

    async def drop_stream(self) -> None:
        for ws in list(self.sockets):
            self.sockets.discard(ws)
            await ws.close(code=1011)

    # -- HTTP ----------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        self.remaining = max(self.remaining - 1, 0)
        return {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(int(time.time()) + 60)}

    def _error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse({"code": code, "message": message}, status_code=status,
                            headers={**self._headers(), **(headers or {})})

    def _ok(self, body: Any, status: int = 200) -> Response:
        return JSONResponse(body, status_code=status, headers=self._headers())

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("APCA-API-KEY-ID") == KEY and request.headers.get("APCA-API-SECRET-KEY") == SECRET

    async def submit(self, request: Request) -> Response:
        self.requests.append(("POST", "/v2/orders"))
        if not self._authorised(request):
            return self._error(401, 40110000, "request is not authorized")
        body = await request.json()
        step = self.script.popleft() if self.script else SubmitScript()
        if step.kind == "error":
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()))} \
                if step.status == 429 else None
            return self._error(step.status, step.code, step.message, headers)
        if body["client_order_id"] in self.by_client:
            return self._error(422, 40010001, "client_order_id must be unique")
        if step.kind == "slow":
            order = self.create(body) if step.create == "before" else None
            await asyncio.sleep(step.delay_s)
            if step.create == "after":
                order = self.create(body)
            return self._ok(order)
        return self._ok(self.create(body))

    async def list_orders(self, request: Request) -> Response:
        self.requests.append(("GET", "/v2/orders"))
        status = request.query_params.get("status", "open")
        open_statuses = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "held"}
        items = [o for o in self.orders.values()
                 if status == "all" or (o["status"] in open_statuses) == (status == "open")]
        return self._ok(items)

    async def by_client_order_id(self, request: Request) -> Response:
        self.requests.append(("GET", "/v2/orders:by_client_order_id"))
        order_id = self.by_client.get(request.query_params.get("client_order_id", ""))
        if order_id is None:
            return self._error(404, 40410000, "order not found")
        return self._ok(self.orders[order_id])

    async def cancel(self, request: Request) -> Response:
        self.requests.append(("DELETE", "/v2/orders/{id}"))
        order = self.orders.get(request.path_params["order_id"])
        if order is None:
            return self._error(404, 40410000, "order not found")
        if order["status"] in ("filled", "canceled", "expired", "rejected"):
            return self._error(422, 42210000, "order is not cancelable")
        order["status"] = "canceled"
        order["canceled_at"] = order["updated_at"] = iso()
        await self.push("canceled", order)
        return Response(status_code=204, headers=self._headers())

    async def account(self, request: Request) -> Response:
        return self._ok({
            "id": "3f0d3f4e-5a3c-4d1b-8a6c-6f0e8b1d2c3a", "account_number": "PA0000001", "status": "ACTIVE",
            "currency": "USD", "buying_power": "200000", "cash": "100000", "portfolio_value": "100000",
            "equity": "100000", "last_equity": "99000", "pattern_day_trader": False, "trading_blocked": False,
            "transfers_blocked": False, "account_blocked": False, "created_at": iso(), "multiplier": "2",
            "shorting_enabled": True, "long_market_value": "0", "short_market_value": "0",
        })

    async def positions(self, request: Request) -> Response:
        return self._ok([])

    async def stream(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            auth = json.loads(await ws.receive_text())
            data = auth.get("data", {})
            if auth.get("action") != "authenticate" or data.get("key_id") != KEY or data.get("secret_key") != SECRET:
                await ws.send_bytes(json.dumps({"stream": "authorization",
                                                "data": {"action": "authenticate", "status": "unauthorized"}}).encode())
                await ws.close()
                return
            await ws.send_bytes(json.dumps({"stream": "authorization",
                                            "data": {"action": "authenticate", "status": "authorized"}}).encode())
            listen = json.loads(await ws.receive_text())
            streams = listen.get("data", {}).get("streams", [])
            await ws.send_bytes(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
            self.sockets.add(ws)
            self.connections += 1
            while True:
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.discard(ws)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v2/orders:by_client_order_id", self.by_client_order_id, methods=["GET"]),
            Route("/v2/orders", self.submit, methods=["POST"]),
            Route("/v2/orders", self.list_orders, methods=["GET"]),
            Route("/v2/orders/{order_id}", self.cancel, methods=["DELETE"]),
            Route("/v2/account", self.account, methods=["GET"]),
            Route("/v2/positions", self.positions, methods=["GET"]),
            WebSocketRoute("/stream", self.stream),
        ])


@dataclass
class FakeLeanRunner:
    """Upstream's LEAN runner contract; ``mode`` scripts the next submit: ok | slow | bad | slow_but_taken."""

    mode: str = "ok"
    delay_s: float = 1.0
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    submits: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def _record(self, body: dict[str, Any], client_order_id: str) -> dict[str, Any]:
        order = {"id": f"L-{len(self.orders) + 1}", "client_order_id": client_order_id, "symbol": body["symbol"],
                 "side": body["side"], "qty": body["qty"], "order_type": body["order_type"],
                 "time_in_force": body["time_in_force"], "status": "accepted", "filled_qty": "0",
                 "submitted_at": iso(), "updated_at": iso()}
        self.orders[client_order_id] = order
        return order

    async def submit(self, request: Request) -> Response:
        body = await request.json()
        client_order_id = request.headers["Idempotency-Key"]
        self.submits.append({"body": body, "idempotency_key": client_order_id,
                             "correlation": request.headers.get("X-Correlation-ID")})
        if client_order_id in self.orders:
            return JSONResponse(self.orders[client_order_id])
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
            return JSONResponse({"error": "too late"}, status_code=504)
        if self.mode == "slow_but_taken":
            order = self._record(body, client_order_id)
            await asyncio.sleep(self.delay_s)
            return JSONResponse(order)
        if self.mode == "bad":
            return JSONResponse({"status": "accepted", "symbol": "ZZZZ", "qty": body["qty"]})
        return JSONResponse(self._record(body, client_order_id))

    async def by_client(self, request: Request) -> Response:
        order = self.orders.get(request.path_params["client_order_id"])
        return JSONResponse(order) if order else JSONResponse({"error": "not found"}, status_code=404)

    async def list_orders(self, request: Request) -> Response:
        return JSONResponse(list(self.orders.values()))

    async def cancel(self, request: Request) -> Response:
        for order in self.orders.values():
            if order["id"] == request.path_params["order_id"]:
                order["status"] = "canceled"
                order["updated_at"] = iso()
                return JSONResponse(order)
        return JSONResponse({"error": "not found"}, status_code=404)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/orders/submit", self.submit, methods=["POST"]),
            Route("/v1/orders/client/{client_order_id}", self.by_client, methods=["GET"]),
            Route("/v1/orders", self.list_orders, methods=["GET"]),
            Route("/v1/orders/{order_id}/cancel", self.cancel, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
        ])
