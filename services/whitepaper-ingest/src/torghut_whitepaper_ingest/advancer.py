"""The advancer: takes runs' slow steps (``steps``) outside the issue-event handler's transaction.

Why: a download (up to ``WHITEPAPER_DOWNLOAD_TIMEOUT_SECONDS``), an upload and an AgentRun
submission (every attempt, with backoff) held the handler's pooled connection, and its lock on the
run, for all that time. Now the handler writes the work and returns; this loop leases each run's
work (a short transaction: an owner and a deadline, so one worker at a time has it), takes its
steps with no connection held, and starts the next. Woken by every committed intake, it also looks
every ``POLL_S`` for work nobody woke it for (another replica's expired lease, a retry).

A lease taken by a previous run of this process (same host and pid: a restarted container of the
same pod) is taken back at once; another owner's, once it has run out (``domain.work.lease_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from collections.abc import AsyncIterator, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters import work_store
from .adapters.outbox import EventOutbox
from .domain.work import startable
from .steps import RunSteps

log = structlog.get_logger("torghut.whitepaper.advancer")
POLL_S = 5.0
MAX_CONCURRENT_RUNS = 8
"""Runs whose steps are in flight at once in one process (downloads and submissions are I/O only)."""
MAX_RETRY_S = 30.0


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Advancer:
    def __init__(self, engine: AsyncEngine, steps: RunSteps, outbox: EventOutbox, *, lease_s: float,
                 retry_backoff_s: float, concurrency: int = MAX_CONCURRENT_RUNS, owner: str | None = None,
                 enabled: Callable[[], bool] = lambda: True) -> None:
        """``enabled``: the workflow switch; while it is off no new step starts (work waits in its rows)."""
        self.engine = engine
        self.steps = steps
        self.outbox = outbox
        self.lease_s = lease_s
        self.retry_backoff_s = retry_backoff_s
        self.concurrency = concurrency
        self.owner = owner or default_owner()
        self.enabled = enabled
        self._in_hand: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()
        """Runs a request is advancing itself (a manual dispatch)."""
        self._failures: dict[str, int] = {}
        self._wakeup = asyncio.Event()

    @property
    def in_hand(self) -> int:
        return len(self._in_hand) + len(self._held)

    def wake(self) -> None:
        self._wakeup.set()

    async def run_forever(self) -> None:
        """Publish what intake wrote, start what is ready, sleep until woken (a runtime background loop)."""
        while True:
            self._wakeup.clear()
            await self.outbox.flush_quietly()
            try:
                await self._start_ready()
            except Exception as exc:  # the database is away: the next wake-up or poll tries again
                log.warning("run work not read; will retry", error=repr(exc))
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that meets a
            # wake-up, and the runtime's stop would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._wakeup.wait()

    @contextlib.asynccontextmanager
    async def holding(self, run_id: str) -> AsyncIterator[bool]:
        """Keep this process's loop off ``run_id`` while a request advances it; False if it is in hand."""
        if run_id in self._in_hand or run_id in self._held:
            yield False
            return
        self._held.add(run_id)
        try:
            yield True
        finally:
            self._held.discard(run_id)
            self.wake()

    async def drain(self, timeout_s: float) -> None:
        """On stop: let the steps in flight finish (at most ``timeout_s``), then cut the rest short;
        their work is given back and taken by the next worker."""
        tasks = list(self._in_hand.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _start_ready(self) -> None:
        free = self.concurrency - self.in_hand
        if free <= 0 or not self.enabled():
            return
        busy = self._in_hand.keys() | self._held
        chosen = startable(await work_store.heads(self.engine), busy=busy, free=free, owner=self.owner)
        for run_id in await work_store.lease(self.engine, chosen, owner=self.owner, lease_s=self.lease_s):
            if run_id in self._held:  # a request took it between the scan and the lease
                continue
            task = asyncio.create_task(self._advance(run_id), name=f"advance-{run_id}")
            self._in_hand[run_id] = task
            task.add_done_callback(functools.partial(self._done, run_id))

    def _done(self, run_id: str, _: asyncio.Task[None]) -> None:
        self._in_hand.pop(run_id, None)
        self.wake()

    async def advance(self, run_id: str) -> None:
        """Take the run's steps now, under this process's lease (a manual dispatch holding the run)."""
        await self.steps.advance(run_id, owner=self.owner, lease_s=self.lease_s)

    async def _advance(self, run_id: str) -> None:
        try:
            await self.advance(run_id)
            self._failures.pop(run_id, None)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(work_store.release(self.engine, run_id, owner=self.owner))
            raise
        except Exception as exc:  # the database, the object store's client: keep the lease, retry after a pause
            failures = self._failures[run_id] = self._failures.get(run_id, 0) + 1
            log.error("run step failed; retrying", run_id=run_id, attempt=failures, error=repr(exc))
            await asyncio.sleep(min(MAX_RETRY_S, self.retry_backoff_s * 2 ** (failures - 1)))
