"""The ``torghut.triggers.v1`` handler: a group of triggers claimed in two statements, whatever its size.

The runtime hands a fetch's triggers over in one transaction (group commit). ``prepare`` reads what
all of them need in one query: the decisions stored for their request ids, the account's latest
snapshot and which of their symbols have an unfinished claim. Each trigger is then routed in memory:
a stored decision with nothing of its symbol waiting is republished at once; anything else is a
claim, buffered, and ``flush`` writes the group's claims in one insert before the runtime marks the
messages processed. A trigger claimed earlier in the same group makes its symbol busy for the ones
after it, as a claim already in the table would, so a symbol's triggers keep their order.

A record the runtime did not prepare (a rerun of one record in a savepoint) reads its own state;
a rolled-back transaction (``discard``) forgets what was read and buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import StrategyTrigger
from torghut_runtime import Inbound, Outgoing, after_commit

from ..domain.claims import Route, route
from ..metrics import DecisionMetrics
from . import claims, store
from .recorder import decision_outgoing

log = structlog.get_logger("torghut.decision_client")


class TriggerIntake:
    def __init__(self, account: str, metrics: DecisionMetrics) -> None:
        self.account = account
        self.metrics = metrics
        self.on_claimed: Callable[[str, claims.Claim | None], None] = lambda _symbol, _claim: None
        """Called once a trigger's claim committed, with its symbol and the claim when it was leased to the
        local worker; the app points it at the claim worker's ``offer``."""
        self.claim_lease: claims.ClaimLease | None = None
        """Whom a claim of a symbol with nothing older waiting is leased to as it is written (the app sets
        it to the local worker's lease)."""
        self._prepared: store.GroupState | None = None
        self._claimed_symbols: set[str] = set()
        self._buffered: list[claims.NewClaim] = []

    async def __call__(self, inbound: Inbound[StrategyTrigger], conn: AsyncConnection) -> list[Outgoing]:
        """Republish the trigger's stored decision, or claim it for the worker (which asks the engine after
        this transaction committed, with no connection held)."""
        trigger = inbound.payload
        state = self._prepared
        if state is None or trigger.request_id not in state.asked:
            state = await store.group_state(conn, self.account, [trigger.request_id], [trigger.symbol])
        decision = state.decision(trigger.request_id)
        busy = trigger.symbol in state.busy or trigger.symbol in self._claimed_symbols
        if route(decision_stored=decision is not None, symbol_busy=busy) is Route.REPUBLISH:
            assert decision is not None
            after_commit(self.metrics.replays.inc)
            log.info("trigger replayed; republishing the stored decision", request_id=trigger.request_id,
                     decision_id=decision.decision_id)
            return [decision_outgoing(decision)]
        new = claims.NewClaim(trigger, inbound.headers, account=self.account, snapshot_json=state.snapshot_json,
                              lease=None if busy else self.claim_lease)
        self._buffered.append(new)
        self._claimed_symbols.add(trigger.symbol)
        after_commit(lambda: self.on_claimed(trigger.symbol, new.claim()))
        return []

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[StrategyTrigger]]) -> None:
        self._prepared = await store.group_state(conn, self.account,
                                                 [inbound.payload.request_id for inbound in inbounds],
                                                 sorted({inbound.payload.symbol for inbound in inbounds}))

    async def flush(self, conn: AsyncConnection) -> None:
        buffered, self._buffered = self._buffered, []
        self._prepared, self._claimed_symbols = None, set()
        await claims.write(conn, buffered)

    def discard(self) -> None:
        self._prepared, self._claimed_symbols, self._buffered = None, set(), []
