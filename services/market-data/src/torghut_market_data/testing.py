"""A protocol-faithful fake of Alpaca's market data: the stock stream websocket and ``/v2/stocks/bars``.

Served on loopback by uvicorn in the test's loop and driven by the real alpaca-py client. It speaks
what ``alpaca/data/live/websocket.py`` 0.44 speaks: msgpack frames (the client asks with
``Content-Type: application/msgpack``), ``[{"T":"success","msg":"connected"}]`` on accept,
``{"action":"auth","key","secret"}`` answered ``authenticated`` or ``[{"T":"error","code":402,
"msg":"auth failed"}]`` (then closed), ``subscribe``/``unsubscribe`` answered with the whole
subscription (``{"T":"subscription","trades":[...],"quotes":[...],"bars":[...],...}``) or
``405 symbol limit exceeded``, and data frames with ``t`` as a msgpack timestamp. Like Alpaca it
sends a symbol's data only while subscribed (``push``); ``push_unfaithful`` sends regardless.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from torghut_runtime.testing import eventually

KEY, SECRET = "test-key", "test-secret"
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections",
            "cancelErrors")
_BY_TYPE = {"b": "bars", "u": "updatedBars", "q": "quotes", "t": "trades", "d": "dailyBars"}


def bar_frame(symbol: str, start: datetime, o: float = 100.0, h: float = 101.0, low: float = 99.5,
              c: float = 100.5, v: int = 1000, *, kind: str = "b", n: int = 10, vw: float = 100.2) -> dict[str, Any]:
    return {"T": kind, "S": symbol, "o": o, "h": h, "l": low, "c": c, "v": v, "t": start, "n": n, "vw": vw}


def quote_frame(symbol: str, ts: datetime, bid: float = 100.0, ask: float = 100.1) -> dict[str, Any]:
    return {"T": "q", "S": symbol, "bx": "V", "bp": bid, "bs": 3, "ax": "V", "ap": ask, "as": 2, "t": ts,
            "c": ["R"], "z": "C"}


def _pack(frames: list[dict[str, Any]]) -> bytes:
    wire = [{k: msgpack.Timestamp.from_datetime(v) if isinstance(v, datetime) else v for k, v in f.items()}
            for f in frames]
    return msgpack.packb(wire)  # type: ignore[no-any-return]


@dataclass
class FakeMarketData:
    key: str = KEY
    secret: str = SECRET
    symbol_limit: int = 30
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """REST bars per symbol: ``{"t": RFC 3339, "o", "h", "l", "c", "v", "n", "vw"}``."""
    subscriptions: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})
    sockets: set[WebSocket] = field(default_factory=set)
    connections: int = 0
    auth_failures: int = 0
    content_types: list[str] = field(default_factory=list)
    rest_requests: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""
    stream_url: str = ""

    # -- websocket ---------------------------------------------------------------------------
    async def stream(self, ws: WebSocket) -> None:
        self.content_types.append(ws.headers.get("content-type", ""))
        await ws.accept()
        try:
            await ws.send_bytes(_pack([{"T": "success", "msg": "connected"}]))
            auth = msgpack.unpackb(await ws.receive_bytes())
            if auth.get("action") != "auth" or auth.get("key") != self.key or auth.get("secret") != self.secret:
                self.auth_failures += 1
                await ws.send_bytes(_pack([{"T": "error", "code": 402, "msg": "auth failed"}]))
                await ws.close()
                return
            await ws.send_bytes(_pack([{"T": "success", "msg": "authenticated"}]))
            self.subscriptions = {c: set() for c in CHANNELS}  # a new connection starts unsubscribed
            self.sockets.add(ws)
            self.connections += 1
            while True:
                await self._control(ws, msgpack.unpackb(await ws.receive_bytes()))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.discard(ws)

    async def _control(self, ws: WebSocket, msg: dict[str, Any]) -> None:
        action = msg.get("action")
        if action not in ("subscribe", "unsubscribe"):
            await ws.send_bytes(_pack([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
            return
        wanted = {c: set(msg.get(c) or []) for c in CHANNELS}
        if action == "subscribe":
            after = {c: self.subscriptions[c] | wanted[c] for c in CHANNELS}
            if len(set().union(*after.values()) - {"*"}) > self.symbol_limit:
                await ws.send_bytes(_pack([{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]))
                return
        else:
            after = {c: self.subscriptions[c] - wanted[c] for c in CHANNELS}
        self.subscriptions = after
        await ws.send_bytes(_pack([{"T": "subscription", **{c: sorted(after[c]) for c in CHANNELS}}]))

    def subscribed(self, channel: str, symbol: str) -> bool:
        return bool(self.sockets) and symbol in self.subscriptions[channel]

    async def push(self, *frames: dict[str, Any]) -> None:
        """Send ``frames`` in one message, each only if its channel and symbol are subscribed (as Alpaca)."""
        kept = [f for f in frames if {f.get("S"), "*"} & self.subscriptions[_BY_TYPE[f["T"]]]]
        await self.push_unfaithful(*kept)

    async def push_unfaithful(self, *frames: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            await ws.send_bytes(_pack(list(frames)))

    async def drop(self) -> None:
        """Cut every connection, as a network failure or Alpaca's restart would."""
        for ws in list(self.sockets):
            self.sockets.discard(ws)
            await ws.close(code=1011)

    # -- REST --------------------------------------------------------------------------------
    async def bars(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.rest_requests.append(params)
        headers = request.headers
        if headers.get("APCA-API-KEY-ID") != self.key or headers.get("APCA-API-SECRET-KEY") != self.secret:
            return JSONResponse({"message": "forbidden."}, status_code=403)
        if params.get("timeframe") != "1Min":
            return JSONResponse({"message": "unsupported timeframe in the fake"}, status_code=422)
        start, end = _time(params["start"]), _time(params["end"])
        limit = int(params.get("limit") or 10_000)
        offset = int(params.get("page_token") or 0)
        out: dict[str, list[dict[str, Any]]] = {}
        taken = 0
        rows = [(s, b) for s in params["symbols"].split(",") for b in self.history.get(s, [])
                if start <= _time(b["t"]) <= end]
        for symbol, bar in rows[offset:offset + limit]:
            out.setdefault(symbol, []).append(bar)
            taken += 1
        more = offset + taken < len(rows)
        return JSONResponse({"bars": out, "next_page_token": str(offset + taken) if more else None})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v2/stocks/bars", self.bars, methods=["GET"]),
                                 WebSocketRoute("/v2/{feed}", self.stream)])


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace(" ", "+")).astimezone(UTC)


def rest_bar(start: datetime, o: float = 100.0, h: float = 101.0, low: float = 99.5, c: float = 100.5,
             v: int = 500) -> dict[str, Any]:
    return {"t": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "o": o, "h": h, "l": low, "c": c, "v": v,
            "n": 5, "vw": c}


@asynccontextmanager
async def serve_fake(fake: FakeMarketData | None = None) -> AsyncIterator[FakeMarketData]:
    """The fake on an ephemeral loopback port; ``stream_url`` is the IEX feed's path."""
    fake = fake or FakeMarketData()
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="fake Alpaca start")
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.base_url, fake.stream_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v2/iex"
    try:
        yield fake
    finally:
        await fake.drop()
        server.should_exit = server.force_exit = True
        await asyncio.wait_for(task, 10)
