"""The stream's frame handlers: Alpaca bars, updated bars and quotes in, contract messages out.

alpaca-py awaits one handler at a time, in arrival order, so a symbol's bars are decided in order
and a backfill completes (published before its triggering bar) before the next frame is read.
Every frame ends in exactly one place: published, dead-lettered with a reason, or skipped and
counted; a handler never raises into alpaca-py (which would log and drop the frame).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.models import BarOrigin, MarketBar
from torghut_contracts.topics import TopicSpec

from .adapters import store
from .adapters.publishing import Publisher, raw_json
from .domain.frames import BadFrame, Reason, bar_from_frame, quote_from_frame
from .domain.gaps import BarTracker
from .domain.ids import backfill_range
from .metrics import MarketDataMetrics

log = structlog.get_logger("torghut.market_data.handlers")
FetchBars = Callable[[str, datetime, datetime], Awaitable[list[dict[str, Any]]]]


def plain_frame(msg: Any) -> dict[str, Any]:
    """A raw alpaca-py frame with its msgpack timestamp as a datetime (what the domain reads)."""
    frame: dict[str, Any] = dict(msg)
    stamp: Any = frame.get("t")
    if hasattr(stamp, "to_datetime"):
        frame["t"] = stamp.to_datetime()
    return frame


class FrameHandlers:
    def __init__(self, publisher: Publisher, metrics: MarketDataMetrics, engine: AsyncEngine, *,
                 universe: frozenset[str], source: str, tracker: BarTracker, fetch: FetchBars | None) -> None:
        self.publisher = publisher
        self.metrics = metrics
        self.engine = engine
        self.universe = universe
        self.source = source
        self.tracker = tracker
        self.fetch = fetch
        """The historical API, or None when backfills are off."""

    async def load(self) -> None:
        """Each symbol's last published start, so the first bar after a restart finds its gap."""
        async with self.engine.connect() as conn:
            self.tracker.last.update(await store.load_last_bars(conn))

    # -- alpaca-py handlers ------------------------------------------------------------------
    async def on_bar(self, msg: Any) -> None:
        await self._guard(msg, "bar", self._stream_bar)

    async def on_updated_bar(self, msg: Any) -> None:
        await self._guard(msg, "bar", self._correction)

    async def on_quote(self, msg: Any) -> None:
        await self._guard(msg, "quote", self._quote)

    async def on_stray(self, msg: Any) -> None:
        """A frame for a symbol we have no handler for: validated like any other, then skipped."""
        handler = {"b": self.on_bar, "u": self.on_updated_bar, "q": self.on_quote}.get(str(msg.get("T")))
        if handler is not None:
            await handler(msg)

    # -- rules -------------------------------------------------------------------------------
    async def _guard(self, msg: Any, kind: str,
                     handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        frame = plain_frame(msg)
        spec: TopicSpec[Any] = topics.MARKET_QUOTES if kind == "quote" else topics.MARKET_BARS
        try:
            await handle(frame)
        except BadFrame as bad:
            await self.reject(spec, kind, frame, bad, source="alpaca-stream")
        except Exception:  # a bug or an outage must not kill the stream: counted, the frame kept in the log
            self.metrics.lost.labels(topic=spec.name).inc()
            log.exception("frame not handled", frame=raw_json(frame)[:1000].decode(errors="replace"))

    async def reject(self, spec: TopicSpec[Any], kind: str, frame: Mapping[str, Any], bad: BadFrame, *,
                     source: str) -> None:
        """Count, log and dead-letter a frame the contract refused."""
        self.metrics.rejected.labels(kind=kind, reason=bad.reason).inc()
        raw = raw_json(frame)
        log.warning("frame refused", kind=kind, reason=bad.reason, detail=bad.detail, frame=raw[:500].decode())
        symbol = frame.get("S")
        await self.publisher.dead_letter(spec, raw, reason=bad.reason, error=bad.detail, source=source,
                                         key=symbol if isinstance(symbol, str) else None)

    def _in_universe(self, kind: str, symbol: str) -> bool:
        if symbol in self.universe:
            return True
        self.metrics.skipped.labels(kind=kind, reason=Reason.NOT_IN_UNIVERSE).inc()
        log.info("frame for a symbol outside the universe skipped", kind=kind, symbol=symbol)
        return False

    async def _quote(self, frame: dict[str, Any]) -> None:
        quote = quote_from_frame(frame, source=self.source)
        if self._in_universe("quote", quote.symbol):
            await self.publisher.quote(quote)

    async def _correction(self, frame: dict[str, Any]) -> None:
        bar = bar_from_frame(frame, origin=BarOrigin.CORRECTION, source=self.source)
        if self._in_universe("bar", bar.symbol):
            await self.publisher.bar(bar.model_copy(update={"late": self.tracker.late(bar.symbol, bar.start)}))

    async def _stream_bar(self, frame: dict[str, Any]) -> None:
        bar = bar_from_frame(frame, origin=BarOrigin.STREAM, source=self.source)
        if not self._in_universe("bar", bar.symbol):
            return
        plan = self.tracker.plan(bar.symbol, bar.start, backfill=self.fetch is not None)
        if plan.missing:
            await self._backfill(bar.symbol, plan.missing)
        if plan.late:
            bar = bar.model_copy(update={"late": True})
        if await self.publisher.bar(bar) and plan.advances:
            await self._advance(bar.symbol, bar.start)

    async def _backfill(self, symbol: str, missing: list[datetime]) -> None:
        """The missing minutes from the historical API, published in start order before the new bar."""
        assert self.fetch is not None
        self.metrics.gaps.inc()
        start, end = backfill_range(missing)
        log.info("gap in the stream: backfilling", symbol=symbol, start=start.isoformat(), end=end.isoformat(),
                 minutes=len(missing))
        try:
            fetched = await self.fetch(symbol, start, end)
        except Exception as exc:
            self.metrics.backfill_failures.inc()
            log.error("backfill failed; the gap stays open", symbol=symbol, start=start.isoformat(),
                      end=end.isoformat(), error=repr(exc))
            return
        wanted = set(missing)
        bars: list[MarketBar] = []
        for raw in fetched:
            try:
                bar = bar_from_frame(raw, origin=BarOrigin.BACKFILL, source=self.source)
            except BadFrame as bad:
                await self.reject(topics.MARKET_BARS, "bar", raw, bad, source="alpaca-rest")
                continue
            if bar.start in wanted:
                bars.append(bar)
        for bar in sorted(bars, key=lambda b: b.start):
            if not await self.publisher.bar(bar):
                return  # the last start stays before the hole: the next bar asks again
            await self._advance(symbol, bar.start)

    async def _advance(self, symbol: str, start: datetime) -> None:
        if self.tracker.advance(symbol, start):
            try:
                async with self.engine.begin() as conn:
                    await store.save_last_bar(conn, symbol, start)
            except Exception as exc:  # memory still knows; only a restart would miss this gap
                log.warning("could not save the last bar start", symbol=symbol, error=repr(exc))
