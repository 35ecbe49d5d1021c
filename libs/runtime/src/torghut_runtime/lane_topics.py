"""How one topic's records are laned (:mod:`.lanes`): workers, batch, a run-time gate, the retry backoff."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

#: Records a lane may hold before it pauses their partitions (and resumes them at half).
HIGH_WATER = 32
#: The longest wait before a lane offers records that failed again.
RETRY_BACKOFF_CAP_S = 30.0


def backoff_s(base_s: float, failures: int) -> float:
    """The wait after ``failures`` failures in a row: ``base_s``, doubling, at most ``RETRY_BACKOFF_CAP_S``."""
    return min(RETRY_BACKOFF_CAP_S, base_s * 2 ** (max(1, failures) - 1))


class Gate:
    """Whether a topic's records may be handled now: a switch flipped at run time (a feature flag).

    Closed, the topic's records wait on the topic: not handled, not dead-lettered, their offsets not
    committed, so nothing is lost or skipped while it is closed. Opening it wakes the topic's lanes.
    """

    def __init__(self, is_open: bool) -> None:
        self._open = is_open
        self._wakers: list[asyncio.Event] = []

    @property
    def is_open(self) -> bool:
        return self._open

    def set(self, is_open: bool) -> None:
        """Open (True) or close (False) the gate; on the event loop (e.g. a flag's change callback)."""
        self._open = is_open
        if is_open:
            for waker in self._wakers:
                waker.set()

    def wake_on_open(self, event: asyncio.Event) -> None:
        self._wakers.append(event)


@dataclass(frozen=True)
class LaneTopic:
    """How one topic's records are laned.

    ``workers`` > 1 means a lane per partition, at most that many busy; ``batch`` > 1 hands the
    handler up to that many queued records at once (one transaction for many small messages);
    ``gate``: while it is closed, the topic's records are held (see :class:`Gate`).
    """

    workers: int = 1
    batch: int = 1
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    gate: Gate | None = None

    @classmethod
    def with_workers(cls, workers: int, gate: Gate | None = None) -> LaneTopic:
        return cls(workers, slots=asyncio.Semaphore(workers), gate=gate)

    @property
    def high_water(self) -> int:
        return max(HIGH_WATER, 2 * self.batch)

    @property
    def open(self) -> bool:
        return self.gate is None or self.gate.is_open
