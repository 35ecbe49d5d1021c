"""A fetch's issue events taken in a few statements, whatever their number.

The runtime hands the handler a fetch's issue events in one transaction (group commit).
``prepare`` reads and locks every run they name in one statement. Each event is then judged against
those runs in memory; a new run is buffered, and ``flush`` writes the group's new runs, their first
events and their work with one statement each, before the runtime marks the messages processed.
Before, each event read its run and wrote three rows, four round trips an issue.

A run created earlier in the group is known to the events after it, so a redelivery in the same
fetch is a replay, as it would be against the table. The rare paths that change an existing run (a
requeue) write at once, and the group learns the run they leave. A record the runtime did not
prepare (a rerun of one record in a savepoint) reads its own run; a rolled-back transaction
(``discard``) forgets what was read and buffered.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.run import Run
from . import run_store, work_store
from .run_store import NewRun
from .work_store import Work


class IntakeBatch:
    def __init__(self) -> None:
        self._known: dict[str, Run | None] = {}
        """Runs read (or created) in this transaction, by id; ``None``: no such run."""
        self._created: list[NewRun] = []
        self._work: list[Work] = []

    async def prepare(self, conn: AsyncConnection, run_ids: Sequence[str]) -> None:
        found = await run_store.get_many(conn, run_ids)
        self._known = {run_id: found.get(run_id) for run_id in run_ids}

    async def run(self, conn: AsyncConnection, run_id: str) -> Run | None:
        """The run as this transaction has it, locked; read (and locked) now if the group did not prepare it."""
        if run_id not in self._known:
            self._known[run_id] = await run_store.get(conn, run_id, lock=True)
        return self._known[run_id]

    def create(self, new: NewRun, work: Work) -> None:
        """Buffer a new run with the work it waits for (written by :meth:`flush`)."""
        self._known[new.run.run_id] = new.run
        self._created.append(new)
        self._work.append(work)

    def learn(self, run: Run) -> None:
        """A run written at once in this transaction, as the write left it."""
        self._known[run.run_id] = run

    async def flush(self, conn: AsyncConnection) -> None:
        created, work = self._created, self._work
        self.discard()
        await run_store.insert_new(conn, created)
        await work_store.add_many(conn, work)

    def discard(self) -> None:
        self._known, self._created, self._work = {}, [], []
