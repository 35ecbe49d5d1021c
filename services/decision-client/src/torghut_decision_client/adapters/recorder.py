"""Group commit for decided claims: a few statements, one publish round and one delete for many decisions.

Each claim's task hands its decision to :meth:`DecisionRecorder.record` and waits. Whichever task
finds the recorder free takes every decision queued by then and, for all of them together:

1. stores the decisions in one statement (``ON CONFLICT DO NOTHING``: a decision stored before wins);
2. publishes them, waiting for the broker's acknowledgements;
3. writes each into its trigger's tracking record (what a redelivered trigger republishes) and deletes
   their claims.

Each statement commits on its own. A claim outlives its decision's publication and tracking record, so
a crash anywhere before step 3 leaves a claim whose stored decision is republished, with the same
message id. The tracking record is written after the publish, off the way to it: one round trip
fewer between the engine's answer and the decision on its topic.

The queue is the runtime's :class:`~torghut_runtime.group_commit.GroupRecorder`: under load the
groups grow by themselves (decisions finish while a group is being recorded), and a lone decision
is recorded at once. Every step is idempotent, so a group that fails part-way is simply recorded
again, each decision of it on its own, so one that cannot be recorded fails only its own claim, not
its neighbours'.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.models import Decision
from torghut_runtime import Outgoing
from torghut_runtime.commit_hooks import CommitHooks
from torghut_runtime.group_commit import GroupRecorder
from torghut_runtime.kafka.deferred import DeferredOutputs

from . import claims, store
from .claims import Claim


def decision_outgoing(decision: Decision) -> Outgoing:
    """A decision as the trigger's one output (keyed by account, correlated by request id)."""
    return Outgoing(topics.DECISIONS, decision, key=decision.account, correlation_id=decision.request_id)


@dataclass(frozen=True)
class Decided:
    claim: Claim
    decision: Decision
    fresh: bool
    """Decided now (store it); False: the decision was stored before (republish it)."""
    hooks: CommitHooks
    """What deciding counted, to run once the decision is stored."""


class DecisionRecorder:
    def __init__(self, engine: AsyncEngine, outputs: DeferredOutputs) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.outputs = outputs
        self._group: GroupRecorder[Decided, None] = GroupRecorder(self._record)

    async def record(self, claim: Claim, decision: Decision, *, fresh: bool, hooks: CommitHooks) -> None:
        """Store, publish and finish ``claim``'s decision, with whatever else is queued; raises if it was not."""
        await self._group.record(Decided(claim, decision, fresh, hooks))

    async def _record(self, group: list[Decided]) -> list[None]:
        # Autocommit: no BEGIN and COMMIT round trips on the way to the publish (see the module's docstring
        # for why a crash between the statements is harmless).
        async with self._autocommit.connect() as conn:
            fresh = iter(await store.store_decisions(conn, [item.decision for item in group if item.fresh]))
        recorded = [(item, self.outputs.render(item.claim.headers,
                                               decision_outgoing(next(fresh) if item.fresh else item.decision)))
                    for item in group]
        for item in group:
            item.hooks.run()
        await self.outputs.publish([output for _, output in recorded])
        async with self._autocommit.connect() as conn:
            await self.outputs.record(conn, [(item.claim.headers.message_id, [output]) for item, output in recorded])
            await claims.finish(self.engine, [item.claim.seq for item in group], conn)
        return [None] * len(group)
