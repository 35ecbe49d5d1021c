"""The Kafka handler of ``torghut.github.issue-events.v1``: intake in the runtime's transaction, nothing slow.

It hands the event to :meth:`Workflow.ingest <.workflow.Workflow.ingest>`, which writes the run, its
lifecycle events and the slow step it now waits for in ``conn`` and returns. The runtime gives the
handler a fetch's events in one transaction: ``prepare`` reads their runs at once and ``flush`` writes
their new runs at once (:class:`~.adapters.intake_batch.IntakeBatch`). Nothing is returned to publish:
the events go out through the outbox and the slow steps through the advancer, after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import GithubIssueEvent
from torghut_runtime import Inbound, Outgoing, after_commit

from .adapters.intake_batch import IntakeBatch

if TYPE_CHECKING:
    from .workflow import Workflow

log = structlog.get_logger("torghut.whitepaper.workflow")


class IssueEventHandler:
    """Handler of ``torghut.github.issue-events.v1``, built and consumed by ``app.py``."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.batch = IntakeBatch()

    async def __call__(self, inbound: Inbound[GithubIssueEvent], conn: AsyncConnection) -> list[Outgoing]:
        event = inbound.payload
        outcome = await self.workflow.ingest(conn, event, cause=f"delivery:{event.delivery_id}", batch=self.batch)
        log.info("issue event handled", delivery_id=event.delivery_id, repository=event.repository,
                 issue_number=event.issue_number, github_event=event.event, action=event.action,
                 accepted=outcome.accepted, reason=outcome.reason, run_id=outcome.run_id,
                 status=outcome.status.value if outcome.status else None)
        if outcome.events:
            after_commit(self._wake_advancer)
        return []

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[GithubIssueEvent]]) -> None:
        await self.batch.prepare(conn, self.workflow.run_ids([inbound.payload for inbound in inbounds]))

    async def flush(self, conn: AsyncConnection) -> None:
        await self.batch.flush(conn)

    def discard(self) -> None:
        self.batch.discard()

    def _wake_advancer(self) -> None:
        """Read when called: the app sets the workflow's advancer after building the workflow."""
        advancer = self.workflow.advancer
        if advancer is not None:
            advancer.wake()
