"""A loop that runs leased work with no database connection held: the second half of claim -> call -> record.

A handler that must make a slow call (an engine, a download, a submission) only claims the work
in its transaction; a :class:`LeasedWork` loop of the service leases what is ready, runs each
piece as a task, one per key at a time, and records the outcome in a short transaction of its own.
It wakes when told (a claim committed, a task finished) and otherwise every ``poll_s``, for work
nobody woke it for (another replica's expired lease, a retry).

A loop whose leases are short renews those of the work in hand (:meth:`LeasedWork.renew`) at least
every third of their length, so a live process keeps its work however long a call takes, and the
work of a process that died is taken over by another replica within one lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger("torghut.leased_work")


def default_owner() -> str:
    """Host and process: a restarted container of the same pod takes its old leases back at once."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeasedWork(ABC):
    poll_s = 5.0
    renew_every_s: float | None = None
    """How often :meth:`renew` runs while work is in hand (a third of the lease); None: never."""

    def __init__(self) -> None:
        self._in_hand: dict[str, asyncio.Task[None]] = {}
        """The task running for each key."""
        self._wakeup = asyncio.Event()
        self._renewed_at = 0.0

    def wake(self) -> None:
        """Work committed or finished: look for work now rather than at the next poll."""
        self._wakeup.set()

    async def run_forever(self) -> None:
        """The loop (a runtime background loop): start what is ready, then sleep until woken."""
        while True:
            self._wakeup.clear()
            await self._renew_when_due()
            await self.before_scan()
            try:
                await self.start_ready()
            except Exception as exc:  # the database is away: the next wake-up or poll tries again
                log.warning("leased work not read; will retry", loop=type(self).__name__, error=repr(exc))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that meets a
            # wake-up, and the runtime's stop would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.poll_s, self.renew_every_s or self.poll_s)):
                    await self._wakeup.wait()

    def leased_keys(self) -> list[str]:
        """The work this process holds a lease on: what :meth:`renew` keeps (the work in hand by default)."""
        return list(self._in_hand)

    async def _renew_when_due(self) -> None:
        now = asyncio.get_running_loop().time()
        keys = self.leased_keys()
        if self.renew_every_s is None or not keys or now - self._renewed_at < self.renew_every_s:
            return
        try:
            await self.renew(keys)
            self._renewed_at = now
        except Exception as exc:  # the database is away: the next turn tries again, the lease still runs
            log.warning("leases not renewed; will retry", loop=type(self).__name__, error=repr(exc))

    async def renew(self, keys: list[str]) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Extend the leases of the work in hand under ``keys`` (nothing by default: leases never renewed)."""

    async def before_scan(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Anything to do on every turn before looking for work (nothing by default)."""

    @abstractmethod
    async def start_ready(self) -> None:
        """Lease what is ready and :meth:`start` each piece."""

    def start(self, key: str, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._in_hand[key] = task
        task.add_done_callback(functools.partial(self._done, key))

    def _done(self, key: str, _: asyncio.Task[None]) -> None:
        self._in_hand.pop(key, None)
        self.finished(key)
        self.wake()

    def finished(self, key: str) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """The work under ``key`` ended (done, failed or cut short), and the loop is about to wake: a loop
        that looks only where work may have become ready notes ``key`` here (nothing by default)."""

    async def drain(self, timeout_s: float) -> None:
        """On stop: let the work in hand finish (at most ``timeout_s``), then cut the rest short; its
        leases lapse and the next loop takes it."""
        tasks = list(self._in_hand.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
