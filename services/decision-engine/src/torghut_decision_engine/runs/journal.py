"""Holding a run's events and committing them: one transaction per stretch of work, not per event.

Kept apart from the manager because it is the one place that writes a live run's events, and the
one that learns (:class:`RunClosed`) when a reaper has already made the run terminal elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from pydantic import BaseModel
from torghut_contracts.decision_engine import DecisionError, RunState, SseEvent

from ..adapters.sse import RunSignals
from ..adapters.store import NewEvent, RunStore
from ..metrics import RunMetrics

log = structlog.get_logger("torghut.decision_engine.runs")


class RunClosed(Exception):
    """The run became terminal elsewhere (a reaper failed it); its task stops writing."""


@dataclass
class PendingEvents:
    """A run's events computed but not yet committed, and the run state they lead to."""

    events: list[NewEvent] = field(default_factory=list)
    status: RunState | None = None


class RunJournal:
    """Each live run's held events, and the writes that commit them and wake its streams."""

    def __init__(self, store: RunStore, signals: RunSignals, metrics: RunMetrics,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.signals = signals
        self.metrics = metrics
        self.clock = clock
        self.pending: dict[str, PendingEvents] = {}

    def hold(self, run_id: str, *events: NewEvent, status: RunState | None = None) -> None:
        """Hold non-terminal events until the next flush: stages computed back to back commit together."""
        pending = self.pending.setdefault(run_id, PendingEvents())
        pending.events.extend(events)
        pending.status = status or pending.status

    def discard(self, run_id: str) -> None:
        """Forget whatever the run still holds: its task has ended."""
        self.pending.pop(run_id, None)

    async def flush(self, run_id: str, terminal: NewEvent | None = None, *,
                    status: RunState | None = None) -> None:
        """Commit the held events (and ``terminal`` after them) in one transaction, then wake the streams.

        Called before anything that lets time pass (a language model call, an injected stall or
        sleep), so streams see progress as it happens, and with the terminal event. The held events
        are taken before the write: one that fails is lost, never written twice.
        """
        pending = self.pending.pop(run_id, None) or PendingEvents()
        events = [*pending.events, *([terminal] if terminal is not None else [])]
        if not events:
            return
        last_id = await self.store.append_many(
            run_id, events, self.clock(), status=status or pending.status,
            final=terminal.data if terminal is not None and terminal.event is SseEvent.FINAL else None,
            error=terminal.data if terminal is not None and terminal.event is SseEvent.ERROR else None)
        self.signals.notify(run_id)
        if last_id is None:
            raise RunClosed(run_id)

    async def finish(self, run_id: str, event: SseEvent, model: BaseModel | str, status: RunState) -> None:
        """Commit the held events and the run's one terminal event."""
        data = model if isinstance(model, str) else model.model_dump_json()
        await self.flush(run_id, NewEvent(event, data), status=status)

    async def fail(self, run_id: str, code: str, message: str) -> bool:
        error = DecisionError(run_id=run_id, code=code, message=message[:4000])
        try:
            await self.finish(run_id, SseEvent.ERROR, error, RunState.ERROR)
        except RunClosed:
            return False
        except Exception:  # the database is away: the lease expires and the reaper fails the run instead
            log.exception("could not record decision.error", run_id=run_id, code=code)
            return False
        self.metrics.runs.labels(outcome=code).inc()
        log.warning("run ended in decision.error", run_id=run_id, code=code, message=message)
        return True
