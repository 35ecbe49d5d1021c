"""Group commit for decided claims: one transaction, one publish round and one delete for many decisions.

Each claim's task hands its decision to :meth:`DecisionRecorder.record` and waits. Whichever task
finds the recorder free takes every decision queued by then and, for all of them together:

1. stores the decisions (``ON CONFLICT DO NOTHING``: a decision stored before wins) and writes
   each into its trigger's tracking record, in one short transaction;
2. publishes them, waiting for the broker's acknowledgements;
3. deletes their claims.

Under load the groups grow by themselves (decisions finish while a group is being recorded); a
lone decision is recorded at once. Every step is idempotent, so a group that fails part-way is
simply recorded again: first each decision of it on its own, so one that cannot be recorded fails
only its own claim, not its neighbours'.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.models import Decision
from torghut_runtime import Outgoing
from torghut_runtime.commit_hooks import CommitHooks
from torghut_runtime.kafka.deferred import DeferredOutputs

from . import claims, store
from .claims import Claim


def decision_outgoing(decision: Decision) -> Outgoing:
    """A decision as the trigger's one output (keyed by account, correlated by request id)."""
    return Outgoing(topics.DECISIONS, decision, key=decision.account, correlation_id=decision.request_id)


@dataclass
class Decided:
    claim: Claim
    decision: Decision
    fresh: bool
    """Decided now (store it); False: the decision was stored before (republish it)."""
    hooks: CommitHooks
    """What deciding counted, to run once the decision is stored."""
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupAbandoned(RuntimeError):
    """The task recording a group was cancelled (a stop) before the group was recorded."""


class DecisionRecorder:
    def __init__(self, engine: AsyncEngine, outputs: DeferredOutputs) -> None:
        self.engine = engine
        self.outputs = outputs
        self._queued: list[Decided] = []
        self._recording = asyncio.Lock()

    async def record(self, claim: Claim, decision: Decision, *, fresh: bool, hooks: CommitHooks) -> None:
        """Store, publish and finish ``claim``'s decision, with whatever else is queued; raises if it was not."""
        item = Decided(claim, decision, fresh, hooks)
        self._queued.append(item)
        async with self._recording:
            if not item.done.done():
                group, self._queued = self._queued, []
                await self._record_group(group)
        await item.done

    async def _record_group(self, group: list[Decided]) -> None:
        try:
            await self._record(group)
        except asyncio.CancelledError:
            for item in group:
                if not item.done.done():
                    item.done.set_exception(GroupAbandoned("recording was cut short by a stop"))
            raise
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)
                return
            for item in group:  # each on its own: one that cannot be recorded fails alone
                try:
                    await self._record([item])
                except Exception as single:
                    item.done.set_exception(single)
                else:
                    item.done.set_result(None)
            return
        for item in group:
            item.done.set_result(None)

    async def _record(self, group: list[Decided]) -> None:
        async with self.engine.begin() as conn:
            recorded = []
            for item in group:
                decision = await store.store_decision(conn, item.decision) if item.fresh else item.decision
                recorded.append((item, self.outputs.render(item.claim.headers, decision_outgoing(decision))))
            await self.outputs.record(conn, [(item.claim.headers.message_id, [output]) for item, output in recorded])
        for item in group:
            item.hooks.run()
        await self.outputs.publish([output for _, output in recorded])
        await claims.finish(self.engine, [item.claim.seq for item in group])
