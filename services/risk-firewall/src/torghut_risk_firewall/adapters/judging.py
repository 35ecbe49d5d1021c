"""The ``torghut.decisions.v1`` handler: a group commit's decisions judged against their locked accounts.

The runtime hands a burst of decisions to this handler in one transaction (group commit). An
account's first decision in the group locks its row and reads its state; each later one reads only
what other transactions may have changed since (its stored verdict, the control commands, the
marks) and is judged against the state the group's earlier decisions left: their reservations
count. The accounts and the verdicts are written once, by :meth:`DecisionJudge.flush` at the end of
the group, inside its transaction, and :meth:`DecisionJudge.discard` forgets them when it rolls
back. A group of one (a lone decision, or the runtime's careful pass, which flushes after each
record) is judged in two statements, as before groups: one that locks and reads, one that writes.

Decisions are keyed by account, so one partition may carry several of a firewall's accounts: a
group holding more than one locks them all in :meth:`DecisionJudge.prepare`, in account order
(:mod:`.account_locks`), as the trade-update and snapshot groups do, so no two of them deadlock.

While the group's transaction is open the account row stays locked, so the trade-update and
snapshot handlers wait for it and then see the group's reservations, as they would have seen
each decision's.

A decision whose symbol has no fresh mark has usually outrun the signal it came from: topics have
no order between them, and after a failover this replica's signal lane may be behind its decision
lane. Before vetoing it on market data the judge waits (bounded) until the signal lane has read
the topic through (``FirewallHandlers.marks_read_through``) and reads the marks again; a mark still
missing or stale then vetoes, fail closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import ApprovedOrder, Decision, RiskVerdict
from torghut_contracts.posture import TradingPosture
from torghut_runtime import Inbound, Outgoing

from ..domain.evaluate import Verdict, evaluate_order, lacks_fresh_mark
from ..domain.limits import RiskLimits
from ..domain.portfolio import reserve
from ..domain.state import MarketState, PortfolioState
from ..domain.wire import OrderTerms, to_approved_order, to_risk_verdict
from . import verdicts
from .account_locks import lock_group_accounts
from .verdicts import StoredVerdict


class Firewall(Protocol):
    """What the judge uses of the firewall's handlers (``FirewallHandlers``), which hold it."""

    def manages(self, account: str) -> bool: ...

    @property
    def clock(self) -> Callable[[datetime], datetime]: ...

    def current_limits(self) -> RiskLimits: ...

    def in_session_day(self, portfolio: PortfolioState, now: datetime) -> PortfolioState: ...

    async def read_marks_through(self) -> bool: ...

    async def judge_foreign_decision(self, conn: AsyncConnection, decision: Decision) -> list[Outgoing]: ...

    def republish(self, decision: Decision, previous: StoredVerdict) -> list[Outgoing]: ...

    def judged(self, decision: Decision, verdict: Verdict, wire_verdict: RiskVerdict,
               order: ApprovedOrder | None) -> list[Outgoing]: ...

    async def sweep(self, conn: AsyncConnection, portfolio: PortfolioState, control: TradingPosture,
                    market: MarketState, now: datetime) -> tuple[PortfolioState, list[Outgoing]]: ...


class DecisionJudge:
    def __init__(self, handlers: Firewall) -> None:
        self.handlers = handlers
        self._held: dict[str, PortfolioState] = {}
        """Each managed account of the group as this transaction holds it: locked, with the group's reservations."""
        self._judged: dict[tuple[str, str], StoredVerdict] = {}
        """The group's verdicts not written yet, by (account, decision id), in order."""

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[Decision]]) -> None:
        await lock_group_accounts(conn, self.handlers, (inbound.payload.account for inbound in inbounds))

    async def __call__(self, inbound: Inbound[Decision], conn: AsyncConnection) -> list[Outgoing]:
        decision, firewall = inbound.payload, self.handlers
        if not firewall.manages(decision.account):
            return await firewall.judge_foreign_decision(conn, decision)
        key = (decision.account, decision.decision_id)
        earlier = self._judged.get(key)
        if earlier is not None:  # the same decision twice in one group (replayed under another message id)
            return firewall.republish(decision, earlier)
        held = self._held.get(decision.account)
        if held is None:
            context = await verdicts.lock_for_decision(conn, decision.account, decision.decision_id, decision.symbol)
        else:
            context = await verdicts.context_for_decision(conn, held, decision.decision_id, decision.symbol)
        self._held[decision.account] = context.portfolio
        if context.previous is not None:
            return firewall.republish(decision, context.previous)
        now = firewall.clock(decision.decided_at)
        if lacks_fresh_mark(context.market, decision.symbol, firewall.current_limits(), now) \
                and await firewall.read_marks_through():
            context = await verdicts.context_for_decision(conn, context.portfolio, decision.decision_id,
                                                          decision.symbol)
        portfolio = firewall.in_session_day(context.portfolio, now)
        portfolio, outputs = await firewall.sweep(conn, portfolio, context.control, context.market, now)
        verdict = evaluate_order(decision, portfolio, context.control, firewall.current_limits(), context.market,
                                 now)
        self._held[decision.account] = reserve(portfolio, verdict, decision.symbol)
        terms = OrderTerms.of_decision(decision)
        wire_verdict = to_risk_verdict(verdict, terms)
        order = to_approved_order(verdict, terms) if verdict.approved else None
        self._judged[key] = StoredVerdict(wire_verdict, order)
        return outputs + firewall.judged(decision, verdict, wire_verdict, order)

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the group's accounts and verdicts, in its transaction: the accounts it judged a decision of
        (one that only republished changed nothing)."""
        held, judged = self._held, list(self._judged.values())
        self.discard()
        if judged:
            changed = {stored.verdict.account for stored in judged}
            await verdicts.save_accounts_and_store_verdicts(
                conn, [held[account] for account in sorted(changed)], judged)

    def discard(self) -> None:
        self._held, self._judged = {}, {}
