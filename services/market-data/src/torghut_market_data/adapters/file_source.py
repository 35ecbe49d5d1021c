"""``MARKET_DATA_SOURCE=file``: publish every bar of a CSV once, in file order, then stop.

Header ``symbol,start,open,high,low,close,volume[,trade_count,vwap]``. A row the contract refuses
goes to ``torghut.market.bars.v1.dlq`` (reason, file and line in the headers) and the next row
follows. A cursor in Postgres (``file_cursor``: path, content hash, rows handled) is saved every
``cursor_every`` rows after their publishes were acknowledged, so a restart resumes after them;
a crash in between republishes at most ``cursor_every`` rows under the same derived message ids,
which consumers deduplicate. A file whose content changed (another hash) is published from the top.
A row is ``late`` when its symbol had a later start earlier in the file.

With a quotes file (header ``symbol,ts,bid,ask,bid_size,ask_size``) the two files are published
merged in time order, as a feed would deliver them: a bar when it closes (start + one minute), a
quote at its time, a quote first on a tie. Both files must then be in time order; the cursor
counts merged rows and its hash covers both files.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics

from ..domain.frames import BadFrame, bar_from_row, quote_from_row, to_utc
from ..domain.gaps import MINUTE, BarTracker
from ..metrics import MarketDataMetrics
from . import store
from .publishing import Publisher, raw_json

log = structlog.get_logger("torghut.market_data.file")
REQUIRED = ("symbol", "start", "open", "high", "low", "close", "volume")
QUOTE_REQUIRED = ("symbol", "ts", "bid", "ask", "bid_size", "ask_size")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rows(path: Path, required: tuple[str, ...] = REQUIRED) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, row) per data row; a missing header column stops here, naming it."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: header lacks {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if isinstance(k, str)}


@dataclass(frozen=True)
class FileRow:
    kind: Literal["bar", "quote"]
    path: Path
    line: int
    row: dict[str, str | None]

    @property
    def at(self) -> datetime:
        """When the row's message exists: a bar at its close, a quote at its time (unreadable: first)."""
        try:
            if self.kind == "bar":
                return to_utc(self.row.get("start")) + MINUTE
            return to_utc(self.row.get("ts"))
        except BadFrame:
            return datetime.min.replace(tzinfo=UTC)


def file_rows(bars: Path, quotes: Path | None) -> Iterator[FileRow]:
    """The bars file's rows in file order, or merged in time order with the quotes file's."""
    bar_rows = (FileRow("bar", bars, line, row) for line, row in rows(bars))
    if quotes is None:
        yield from bar_rows
        return
    quote_rows = (FileRow("quote", quotes, line, row) for line, row in rows(quotes, QUOTE_REQUIRED))
    yield from heapq.merge(quote_rows, bar_rows, key=lambda r: r.at)  # stable: a quote first on a tie


class FileSource:
    def __init__(self, path: Path, publisher: Publisher, metrics: MarketDataMetrics, engine: AsyncEngine, *,
                 cursor_every: int, quotes: Path | None = None) -> None:
        self.path = path
        self.quotes = quotes
        self.publisher = publisher
        self.metrics = metrics
        self.engine = engine
        self.cursor_every = cursor_every
        self.done = asyncio.Event()
        """Set once the whole file has been handled (this run or an earlier one)."""

    async def run(self) -> None:
        """Publish what the cursor has not covered, save the cursor, then stay idle (the service lives on)."""
        key = str(self.path.resolve())
        sha = await asyncio.to_thread(file_sha256, self.path)
        if self.quotes is not None:
            quotes_sha = await asyncio.to_thread(file_sha256, self.quotes)
            sha = hashlib.sha256(f"{sha}:{quotes_sha}".encode()).hexdigest()
        async with self.engine.connect() as conn:
            cursor = await store.load_cursor(conn, key)
        skip = cursor.rows_done if cursor is not None and cursor.sha256 == sha else 0
        if cursor is not None and cursor.sha256 == sha and cursor.finished:
            log.info("file already published", path=key, rows=cursor.rows_done)
            self.done.set()
            return
        tracker = BarTracker()
        handled = 0
        for item in file_rows(self.path, self.quotes):
            handled += 1
            if handled <= skip:  # published by an earlier run: only its late-rule memory is rebuilt
                if item.kind == "bar":
                    self._remember(tracker, item.row)
                continue
            if item.kind == "bar":
                await self._row(tracker, item.line, item.row)
            else:
                await self._quote(item.line, item.row)
            if handled % self.cursor_every == 0:
                await self._save(key, store.Cursor(sha, handled, finished=False))
        await self._save(key, store.Cursor(sha, handled, finished=True))
        log.info("file published", path=key, rows=handled, resumed_after=skip)
        self.done.set()

    @staticmethod
    def _remember(tracker: BarTracker, row: dict[str, str | None]) -> None:
        try:
            tracker.advance(str(row.get("symbol")), to_utc(row.get("start")))
        except BadFrame:
            pass

    async def _row(self, tracker: BarTracker, line: int, row: dict[str, str | None]) -> None:
        try:
            bar = bar_from_row(row, source="file")
        except BadFrame as bad:
            await self._refuse(FileRow("bar", self.path, line, row), bad)
            return
        if tracker.late(bar.symbol, bar.start):
            bar = bar.model_copy(update={"late": True})
        tracker.advance(bar.symbol, bar.start)
        published = await self.publisher.bar(bar)
        self.metrics.file_rows.labels(outcome="published" if published else "lost").inc()

    async def _quote(self, line: int, row: dict[str, str | None]) -> None:
        assert self.quotes is not None
        try:
            quote = quote_from_row(row, source="file")
        except BadFrame as bad:
            await self._refuse(FileRow("quote", self.quotes, line, row), bad)
            return
        published = await self.publisher.quote(quote)
        self.metrics.file_rows.labels(outcome="published" if published else "lost").inc()

    async def _refuse(self, item: FileRow, bad: BadFrame) -> None:
        """A row the contract refuses: counted, logged and dead-lettered with its file and line."""
        self.metrics.file_rows.labels(outcome=bad.reason).inc()
        self.metrics.rejected.labels(kind=item.kind, reason=bad.reason).inc()
        log.warning("file row refused", kind=item.kind, line=item.line, reason=bad.reason, detail=bad.detail)
        spec = topics.MARKET_BARS if item.kind == "bar" else topics.MARKET_QUOTES
        await self.publisher.dead_letter(spec, raw_json({**item.row, "line": item.line}), reason=bad.reason,
                                         error=bad.detail, source=f"file:{item.path}:{item.line}",
                                         key=item.row.get("symbol") or None)

    async def _save(self, key: str, cursor: store.Cursor) -> None:
        async with self.engine.begin() as conn:
            await store.save_cursor(conn, key, cursor)

