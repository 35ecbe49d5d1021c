"""One decision run as the transport follows it, and the ways an attempt at it can end early."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from httpx_sse import ServerSentEvent
from torghut_contracts.decision_engine import DecisionRequest

from ..domain.outcome import Provenance

TRANSPORT = "decision-engine"


class _Rejected(Exception):
    """A 4xx: the engine will not take this request, however often it is sent."""


class _Retryable(Exception):
    """A 5xx, 408 or 429: the engine may take it later."""


class _ResumeUnsupported(Exception):
    """The engine has no resumable stream for this run (404/405): poll instead."""


@dataclass
class _Run:
    """What is known about the run so far; survives reconnects within one ``decide`` call."""

    request: DecisionRequest
    started: float
    run_id: str | None = None
    last_event_id: str | None = None
    resumes: int = 0
    last_problem: str = ""
    connected_once: bool = False
    unreachable: bool = False
    """The latest attempt could not reach the engine (refused, 5xx): a watchdog firing then means 'down'."""
    open_stream: contextlib.AsyncExitStack | None = None
    """The response the terminal event came on, still open so its end can be read (see ``_release``)."""
    rest: AsyncIterator[ServerSentEvent] | None = None

    def provenance(self) -> Provenance:
        return Provenance(transport=TRANSPORT, run_id=self.run_id, latency_ms=self.latency_ms())

    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def is_replayed(self, event_id: str) -> bool:
        """An event at or before the last one seen (a resumed or re-posted stream replaying history)."""
        if not event_id or self.last_event_id is None:
            return False
        if event_id.isdigit() and self.last_event_id.isdigit():
            return int(event_id) <= int(self.last_event_id)
        return event_id == self.last_event_id

