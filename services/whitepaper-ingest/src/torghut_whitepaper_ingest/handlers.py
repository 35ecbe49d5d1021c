"""The Kafka handler of ``torghut.github.issue-events.v1``: intake in the runtime's transaction, nothing slow.

It hands the event to :meth:`Workflow.ingest <.workflow.Workflow.ingest>`, which writes the run, its
lifecycle events and the slow step it now waits for in ``conn`` and returns. Nothing is returned to
publish: the events go out through the outbox and the slow steps through the advancer, after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import GithubIssueEvent
from torghut_runtime import Inbound, Outgoing, after_commit

if TYPE_CHECKING:
    from .workflow import Workflow

log = structlog.get_logger("torghut.whitepaper.workflow")


class IssueEventHandler:
    """Handler of ``torghut.github.issue-events.v1``, built and consumed by ``app.py``."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

    async def __call__(self, inbound: Inbound[GithubIssueEvent], conn: AsyncConnection) -> list[Outgoing]:
        event = inbound.payload
        outcome = await self.workflow.ingest(conn, event, cause=f"delivery:{event.delivery_id}")
        log.info("issue event handled", delivery_id=event.delivery_id, repository=event.repository,
                 issue_number=event.issue_number, github_event=event.event, action=event.action,
                 accepted=outcome.accepted, reason=outcome.reason, run_id=outcome.run_id,
                 status=outcome.status.value if outcome.status else None)
        if outcome.events:
            after_commit(self._wake_advancer)
        return []

    def _wake_advancer(self) -> None:
        """Read when called: the app sets the workflow's advancer after building the workflow."""
        advancer = self.workflow.advancer
        if advancer is not None:
            advancer.wake()
