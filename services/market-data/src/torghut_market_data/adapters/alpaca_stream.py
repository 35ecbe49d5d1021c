"""Alpaca's market data websocket through alpaca-py's ``StockDataStream``, in the service's own loop.

What alpaca-py 0.44 already does (``alpaca/data/live/websocket.py``), so it is not rebuilt here:
on a dropped connection or a failed connect it closes the socket, waits an exponential backoff
with jitter (``_reconnect_min_backoff`` doubling up to 30 s, reset once data flows again),
reconnects, authenticates and re-sends the whole subscription; ``data_timeout`` forces a reconnect
of a connected-but-mute socket. ``run()`` calls ``asyncio.run()``, so the service awaits the
private ``_run_forever()`` instead (as the execution-router does for trade updates; pinned by the
integration tests against the fake server).

What it lacks, added by :class:`MarketDataStream`:

- refused credentials (``402 auth failed``) are retried forever, logged as a generic exception:
  here they are counted, logged once as what they are, and the stream stops (no hammering of
  Alpaca's connection limit with keys that will not work); ``/api/stream`` and
  ``torghut_market_data_stream_connected`` show it. Other auth-time errors (``406 connection
  limit exceeded``) stay with alpaca-py's backoff.
- error frames after auth (``405 symbol limit exceeded``) are only logged by alpaca-py: here they
  are counted by code.
- a frame for a symbol without a handler is dropped silently by alpaca-py's dispatch: here it goes
  to ``on_stray``, so an invalid symbol is dead-lettered and one outside the universe counted.
  (A bar or quote frame with no ``S`` at all is skipped by alpaca-py before dispatch; that stays.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream

from ..metrics import MarketDataMetrics

log = structlog.get_logger("torghut.market_data.stream")
Handler = Callable[[Any], Awaitable[None]]
_CHANNELS = {"b": "bars", "u": "updatedBars", "q": "quotes"}
PERMANENT_AUTH_ERRORS = ("auth failed", "insufficient subscription")


@dataclass
class StreamStatus:
    state: str = "idle"
    """idle | connecting | connected | auth_failed | stopped"""
    error: str | None = None
    connections: int = 0


class MarketDataStream(StockDataStream):
    def __init__(self, api_key: str, secret_key: str, *, feed: str, url: str | None, reconnect_min_s: float,
                 data_timeout_s: float | None, metrics: MarketDataMetrics, on_stray: Handler) -> None:
        super().__init__(api_key, secret_key, raw_data=True, feed=DataFeed(feed), url_override=url,
                         data_timeout=data_timeout_s)
        self._reconnect_min_backoff = reconnect_min_s
        self.metrics = metrics
        self.on_stray = on_stray
        self.status = StreamStatus()

    async def _start_ws(self) -> None:
        self.status.state = "connecting"
        await super()._start_ws()
        self.status.state = "connected"
        self.status.connections += 1
        self.metrics.connections.inc()
        self.metrics.connected.set(1)

    async def _auth(self) -> None:
        try:
            await super()._auth()
        except ValueError as exc:
            if str(exc) in PERMANENT_AUTH_ERRORS:
                self.status.state, self.status.error = "auth_failed", str(exc)
                self.metrics.auth_failures.inc()
                log.error("Alpaca refused the market data credentials; the stream stops until the service is "
                          "restarted with working ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY", error=str(exc))
                await self.stop_ws()  # alpaca-py's loop returns instead of retrying
            raise

    async def close(self) -> None:
        self.metrics.connected.set(0)
        if self.status.state == "connected":
            self.status.state = "connecting"
        await super().close()

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("T")
        if kind == "error":
            self.metrics.stream_errors.labels(code=str(msg.get("code"))).inc()
            log.error("Alpaca stream error", code=msg.get("code"), msg=msg.get("msg"))
            return
        channel = _CHANNELS.get(kind) if isinstance(kind, str) else None
        if channel is not None and msg.get("S") not in self._handlers[channel]:
            await self.on_stray(msg)
            return
        await super()._dispatch(msg)

    async def consume_forever(self) -> None:
        """Until stopped or refused: alpaca-py reconnects by itself in between."""
        try:
            await self._run_forever()
        finally:
            with contextlib.suppress(Exception):
                await self.close()
            if self.status.state != "auth_failed":
                self.status.state = "stopped"

    async def shutdown(self) -> None:
        await self.stop_ws()
        await self.close()
