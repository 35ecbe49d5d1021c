"""Live updates: Postgres tells every replica which panels changed; each page gets the new HTML once.

The projection's transactions end with ``pg_notify`` (see :mod:`..handlers`), so a change reaches
every console replica when it commits, whichever replica read it. One connection per replica
listens; one loop renders each changed panel once, at most every ``CONSOLE_PUSH_INTERVAL_MS``, and
hands it to the open pages. A page that falls behind gets only the latest HTML of each panel, so a
slow browser costs memory for one fragment per panel, never a queue.

When Postgres goes away the status panel says so, the listener reconnects with backoff, and on
reconnecting every panel is rendered again (what changed meanwhile was never notified).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable

import asyncpg
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from ..metrics import ConsoleMetrics
from ..panels import Panel, PanelRenderer
from .store import LAZY, NOTIFY_CHANNEL

log = structlog.get_logger("torghut.console.live")
CHECK_EVERY_S = 5.0


class Stream:
    """One open page: the latest HTML of each panel it shows that it has not been sent yet."""

    def __init__(self, panels: frozenset[Panel]) -> None:
        self.panels = panels
        self.pending: dict[Panel, str] = {}
        self.ready = asyncio.Event()
        self.closed = False

    def offer(self, panel: Panel, html: str) -> None:
        if panel in self.panels:
            self.pending[panel] = html
            self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.ready.set()


class LiveFeed:
    def __init__(self, database_url: str, renderer: PanelRenderer, metrics: ConsoleMetrics,
                 push_interval_s: float, lazy_interval_s: float) -> None:
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.renderer = renderer
        self.metrics = metrics
        self.push_interval_s = push_interval_s
        self.lazy_interval_s = lazy_interval_s
        self._dirty: set[Panel] = set(Panel)
        self._lazy: set[Panel] = set()
        """Changed by signals only: pushed at most every ``lazy_interval_s`` (counts and marks move on
        every signal; an operator needs them once a second, a fill at once)."""
        self._pushed_at: dict[Panel, float] = {}
        self._wake = asyncio.Event()
        self._streams: set[Stream] = set()
        self._closing = False

    def changed(self, panels: Iterable[Panel], *, lazy: bool = False) -> None:
        (self._lazy if lazy else self._dirty).update(panels)
        self._wake.set()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        lazy, names = payload.startswith(LAZY), payload.removeprefix(LAZY).split(",")
        self.changed((Panel(name) for name in names if name in Panel._value2member_map_), lazy=lazy)

    # -- the background loops -----------------------------------------------------------------
    async def listen(self) -> None:
        """Hold a LISTEN connection; reconnect (0.5 s, doubling to 5 s) whenever it is lost."""
        delay = 0.5
        while True:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                self._database(up=False, error=exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            try:
                await conn.add_listener(NOTIFY_CHANNEL, self._notified)
                self._database(up=True)
                self.changed(Panel)
                while True:
                    await asyncio.sleep(CHECK_EVERY_S)
                    await conn.fetchval("SELECT 1", timeout=CHECK_EVERY_S)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self._database(up=False, error=exc)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=1)

    def _database(self, *, up: bool, error: BaseException | None = None) -> None:
        if self.renderer.database_up != up:
            log.warning("read model reachable again" if up else "read model unreachable",
                        error=repr(error) if error else None)
        self.renderer.database_up = up
        self.changed([Panel.STATUS])

    async def push(self) -> None:
        """Render what changed for the pages that show it, then rest a push interval."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            shown = set().union(*(stream.panels for stream in self._streams)) if self._streams else set()
            now = time.monotonic()
            ripe = {p for p in self._lazy if now - self._pushed_at.get(p, 0.0) >= self.lazy_interval_s}
            due = (self._dirty | ripe) & shown
            self._dirty -= due
            self._lazy -= due
            if self._lazy & shown:  # come back when the oldest of them is ripe
                wait = min(self.lazy_interval_s - (now - self._pushed_at.get(p, 0.0)) for p in self._lazy & shown)
                asyncio.get_running_loop().call_later(max(wait, 0.0), self._wake.set)
            for panel in sorted(due):
                html = await self._render(panel)
                if html is None:
                    self._dirty.add(panel)  # rendered again once the database is back
                    continue
                self._pushed_at[panel] = time.monotonic()
                self.metrics.pushes.labels(panel=panel.value).inc()
                for stream in self._streams:
                    stream.offer(panel, html)
            await asyncio.sleep(self.push_interval_s)

    async def _render(self, panel: Panel) -> str | None:
        started = time.perf_counter()
        try:
            html = await self.renderer.render(panel)
            if not self.renderer.database_up and panel is not Panel.STATUS:
                self._database(up=True)  # a render read the read model: it answers again
            return html
        except (OSError, TimeoutError, asyncpg.PostgresError, sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            self._database(up=False, error=exc)
            return None
        finally:
            self.metrics.render_seconds.labels(panel=panel.value).observe(time.perf_counter() - started)

    # -- the pages ----------------------------------------------------------------------------
    async def stream(self, panels: frozenset[Panel]) -> AsyncIterator[tuple[Panel, str]]:
        """The panels' HTML now, then again each time one changes, until the page goes or we stop."""
        stream = Stream(panels)
        self._streams.add(stream)
        self.metrics.streams.inc()
        try:
            for panel in sorted(panels):
                html = await self._render(panel)
                if html is not None:
                    yield panel, html
            while not (stream.closed or self._closing):
                await stream.ready.wait()
                stream.ready.clear()
                pending, stream.pending = stream.pending, {}
                for panel, html in sorted(pending.items()):
                    yield panel, html
        finally:
            self._streams.discard(stream)
            self.metrics.streams.dec()

    def close(self) -> None:
        """End every open stream (on SIGTERM, so a page's stream does not hold the shutdown)."""
        self._closing = True
        for stream in self._streams:
            stream.close()
