"""Publishing bars, quotes and dead letters, with bounded retries and derived message ids.

alpaca-py swallows (logs) an exception raised by a frame handler and moves on, so a publish that
fails here must not raise into it: it is retried ``attempts`` times with a doubling pause, then
counted as lost. A lost bar does not move the symbol's last start, so the next bar finds the gap
and the backfill publishes it after all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from pydantic import BaseModel
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import MarketBar, MarketQuote
from torghut_contracts.topics import TopicSpec
from torghut_runtime import ServiceRuntime

from ..domain.ids import bar_message_id, dead_letter_id, quote_message_id
from ..metrics import MarketDataMetrics

log = structlog.get_logger("torghut.market_data.publish")
DLQ_SOURCE = "x-dlq-source"
"""Where a dead-lettered frame came from (alpaca-stream, alpaca-rest, file:<path>:<line>)."""


def raw_json(frame: Mapping[str, Any]) -> bytes:
    """A frame as JSON for the DLQ: times in RFC 3339, msgpack timestamps and decimals as text."""
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if hasattr(value, "to_datetime"):  # msgpack.Timestamp
            return value.to_datetime().isoformat()
        if isinstance(value, Decimal | bytes):
            return str(value)
        return repr(value)
    return json.dumps(dict(frame), default=default, sort_keys=True).encode()


class Publisher:
    def __init__(self, runtime: ServiceRuntime, metrics: MarketDataMetrics, *, attempts: int,
                 first_pause_s: float = 0.2) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.attempts = attempts
        self.first_pause_s = first_pause_s
        runtime.produces(topics.MARKET_BARS, topics.MARKET_QUOTES)
        for spec in (topics.MARKET_BARS, topics.MARKET_QUOTES):
            runtime.kafka.publishers.declare_dead_letters(
                spec, title=f"{runtime.settings.service_name}:send:{spec.name}.dlq")

    async def bar(self, bar: MarketBar) -> bool:
        """Publish ``bar``; False (counted, logged) when every attempt failed."""
        ok = await self._publish(topics.MARKET_BARS, bar, bar_message_id(bar))
        if ok:
            self.metrics.bars.labels(origin=bar.origin.value).inc()
            if bar.late:
                self.metrics.late_bars.inc()
        return ok

    async def quote(self, quote: MarketQuote) -> bool:
        ok = await self._publish(topics.MARKET_QUOTES, quote, quote_message_id(quote))
        if ok:
            self.metrics.quotes.inc()
        return ok

    async def dead_letter(self, spec: TopicSpec[Any], raw: bytes, *, reason: str, error: str, source: str,
                          key: str | None) -> bool:
        """The frame's raw content to ``<topic>.dlq`` with ``x-dlq-reason``, under an id derived from it."""
        message_id = dead_letter_id(raw)
        headers = {**MessageHeaders.new(spec.name + topics.DLQ_SUFFIX, message_id=message_id).as_dict(),
                   h.DLQ_REASON: reason, h.DLQ_ERROR: error[:1000], DLQ_SOURCE: source[:300]}
        return await self._retry(spec.name + topics.DLQ_SUFFIX, message_id, lambda: (
            self.runtime.kafka.publishers.publish_dead_letter(
                spec, raw, key=key.encode() if key else None, headers=headers)))

    async def _publish(self, spec: TopicSpec[Any], message: BaseModel, message_id: str) -> bool:
        headers = MessageHeaders.new(spec.name, message_id=message_id)
        return await self._retry(spec.name, message_id, lambda: self.runtime.publish(spec, message, headers=headers))

    async def _retry(self, topic: str, message_id: str, send: Callable[[], Awaitable[Any]]) -> bool:
        pause = self.first_pause_s
        for attempt in range(1, self.attempts + 1):
            try:
                await send()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("publish failed", topic=topic, message_id=message_id, attempt=attempt, error=repr(exc))
                if attempt < self.attempts:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 10.0)
        self.metrics.lost.labels(topic=topic).inc()
        log.error("message lost after every publish attempt", topic=topic, message_id=message_id)
        return False
