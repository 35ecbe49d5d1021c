"""Server-sent events of one run, read from Postgres: replay after ``Last-Event-ID``, then live, with heartbeats.

The stream is a reader, never the run's owner: closing it (the caller went away, or ``drop-after``)
leaves the run going. Local runs wake their readers at once through :class:`RunSignals`; a run
owned by another replica is picked up by re-reading every ``poll_s``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

from torghut_contracts.decision_engine import TERMINAL_EVENTS, DecisionError, RunAccepted, SseEvent

from .store import RunStore, StoredEvent

HEARTBEAT = b": heartbeat\n\n"


class RunSignals:
    """In-process wake-ups: a stream takes a waiter before reading, the run sets it after each append.

    :meth:`shut_down` (on SIGTERM) wakes every stream for good: each sends :func:`shutting_down` and
    ends, so its caller resumes the run elsewhere instead of hearing heartbeats until it is cut.
    """

    def __init__(self) -> None:
        self._events: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()
        self.shutting_down = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def shut_down(self) -> None:
        def wake_all() -> None:
            self.shutting_down.set()
            for event in list(self._events.values()):
                event.set()

        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(wake_all)
        else:
            wake_all()

    def waiter(self, run_id: str) -> asyncio.Event:
        self._loop = self._loop or asyncio.get_running_loop()  # so a signal handler can reach the streams
        event = self._events.get(run_id)
        if event is None:
            event = asyncio.Event()
            self._events[run_id] = event
        return event

    def notify(self, run_id: str) -> None:
        event = self._events.pop(run_id, None)
        if event is not None:
            event.set()


def shutting_down(run_id: str) -> bytes:
    """What a stream the engine ends on shutdown sends last. Without an ``id``: it is not an event of
    the run (the caller's Last-Event-ID stays put), so resuming elsewhere reads the run's own outcome."""
    error = DecisionError(run_id=run_id, code="shutting_down", retryable=True,
                          message="this engine is shutting down; resume the run elsewhere with Last-Event-ID")
    return f"event: {SseEvent.ERROR.value}\ndata: {error.model_dump_json()}\n\n".encode()


def frame(event: StoredEvent, *, existing: bool) -> bytes:
    data = event.data
    if existing and event.event is SseEvent.ACCEPTED:
        data = RunAccepted.model_validate_json(data).model_copy(update={"existing": True}).model_dump_json()
    return f"id: {event.event_id}\nevent: {event.event.value}\ndata: {data}\n\n".encode()


async def run_stream(store: RunStore, signals: RunSignals, run_id: str, *, after: int, heartbeat_s: float,
                     poll_s: float, existing: bool, drop_after: int | None = None) -> AsyncIterator[bytes]:
    """Events with id > ``after``, until the terminal one (or ``drop_after`` events when a fault asks)."""
    loop = asyncio.get_running_loop()
    last, sent, last_write = after, 0, loop.time()
    while True:
        if signals.shutting_down.is_set():
            yield shutting_down(run_id)
            return
        waiter = signals.waiter(run_id)
        events, run = await store.events_after(run_id, last)
        for event in events:
            yield frame(event, existing=existing)
            last, sent, last_write = event.event_id, sent + 1, loop.time()
            if event.event in TERMINAL_EVENTS or (drop_after is not None and sent >= drop_after):
                return
        if run is None or (run.terminal and last >= run.last_event_id):
            return
        idle = heartbeat_s - (loop.time() - last_write)
        if idle <= 0:
            yield HEARTBEAT
            last_write = loop.time()
            continue
        try:
            await asyncio.wait_for(waiter.wait(), timeout=min(poll_s, idle))
        except TimeoutError:
            pass
