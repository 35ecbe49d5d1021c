"""Kafka handlers: thin shells that lock the account, load state, call the core, save, and publish.

Each runs inside the runtime's transaction (effects + processed-message record commit together,
outputs publish after the commit). Decisions, trade updates and snapshots for an account take
its row lock first, so the separate subscribers see one consistent exposure. A firewall may own
several accounts (``TORGHUT_ACCOUNTS``); a group commit holding records of more than one locks
them all first, in account order (:mod:`.account_locks`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import (
    AccountSnapshot,
    ApprovedOrder,
    ControlCommand,
    Decision,
    RiskVerdict,
    TradeUpdate,
)
from torghut_contracts.posture import TradingPosture
from torghut_runtime import Inbound, Outgoing, after_commit
from torghut_runtime.flags import FeatureFlags, Flag
from torghut_runtime.settings import Clock, JudgingClock, judging_clock

from ..domain import reasons as r
from ..domain.evaluate import Verdict, effective_trading_state, reference_price
from ..domain.ids import client_order_id
from ..domain.limits import RiskLimits
from ..domain.portfolio import (
    apply_snapshot,
    apply_trade_update,
    detect_latches,
    start_trading_day,
    with_latches,
)
from ..domain.state import MarketState, PortfolioState
from ..domain.sweep import sweep
from ..domain.windows import SessionPhase, session_phase, trading_day
from ..domain.wire import OrderTerms, to_approved_order, to_risk_verdict
from ..metrics import FirewallMetrics
from . import store, verdicts
from .account_locks import AccountsLockedFirst
from .judging import DecisionJudge
from .marks import SignalMarks

log = structlog.get_logger("torghut.risk_firewall")

# The risk limits an operator may flip at run time (docs/feature-flags.md), and the field each sets.
LIMIT_FLAGS = ((Flag.ALLOW_SHORTS, "allow_shorts"), (Flag.ALLOW_EXTENDED_HOURS, "allow_extended_hours"),
               (Flag.ALLOW_FRACTIONAL, "allow_fractional"), (Flag.RISK_CLAMP_ENABLED, "clamp_enabled"))


@dataclass(frozen=True)
class FlaggedLimit:
    """A risk limit an operator may flip by flag, as it is in force now, and why."""

    name: str
    """The :class:`RiskLimits` field."""
    flag: Flag
    value: bool
    configured: bool
    """Its value in the configured limits (file and environment)."""
    source: str
    """``flag server`` (the server's answer), ``fallback`` (flags on but no answer for it: the configured
    value, or the safe one for a limit that loosens safety) or ``settings`` (flags off)."""


@dataclass
class FirewallHandlers:
    accounts: tuple[str, ...]
    """The accounts this firewall owns (sorted); every other account's decisions are vetoed as not managed."""
    limits: RiskLimits
    clock_mode: Clock
    """``CLOCK``: the time each message is judged at (:attr:`clock`)."""
    metrics: FirewallMetrics
    flags: FeatureFlags | None = None
    """With flags enabled, the four flag-backed limits come from the flag server, read per message."""
    marks_read_through: Callable[[], Awaitable[bool]] | None = None
    """Waits (bounded) until the TA-signal lane has read its topic through; True if it has (see judging.py)."""
    _limits_by_flags: dict[tuple[bool, ...], RiskLimits] = field(default_factory=dict, init=False, repr=False)
    clock: JudgingClock = field(init=False, repr=False)

    def manages(self, account: str) -> bool:
        return account in self.accounts

    async def read_marks_through(self) -> bool:
        """Let the signal lane catch up before a decision is vetoed for want of a mark; True if it did."""
        return self.marks_read_through is not None and await self.marks_read_through()

    def current_limits(self) -> RiskLimits:
        """The limits in force now: the configured ones, with the flag-backed fields at their flag values
        (one RiskLimits per combination, built and validated once; then a dict read)."""
        if self.flags is None or not self.flags.enabled:
            return self.limits
        key = tuple(self.flags.value(flag) for flag, _ in LIMIT_FLAGS)
        limits = self._limits_by_flags.get(key)
        if limits is None:
            fields = {name: value for (_, name), value in zip(LIMIT_FLAGS, key, strict=True)}
            limits = RiskLimits.model_validate({**self.limits.model_dump(), **fields})
            self._limits_by_flags[key] = limits
        return limits

    def in_session_day(self, portfolio: PortfolioState, now: datetime) -> PortfolioState:
        """A replay's decisions start its trading days, at their own time; live, snapshots do (a replay's
        snapshots are stamped by the wall clock: see ``apply_snapshot``)."""
        return start_trading_day(portfolio, trading_day(now)) if self.clock_mode == "event" else portfolio

    def flagged_limits(self) -> list[FlaggedLimit]:
        """Where each flag-backed field of :meth:`current_limits` comes from, for the operator's view."""
        limits = self.current_limits()
        return [FlaggedLimit(name, flag, getattr(limits, name), getattr(self.limits, name), self._source(flag))
                for flag, name in LIMIT_FLAGS]

    def _source(self, flag: Flag) -> str:
        if self.flags is None or not self.flags.enabled:
            return "settings"
        return "flag server" if self.flags.source(flag) == "server" else "fallback"

    # -- decisions (judged by DecisionJudge, see judging.py) -------------------------------------------
    async def judge_foreign_decision(self, conn: AsyncConnection, decision: Decision) -> list[Outgoing]:
        """Another account's decision: no account row to lock; vetoed and recorded."""
        previous = await verdicts.stored_verdict(conn, decision.account, decision.decision_id)
        if previous is not None:
            return self.republish(decision, previous)
        control = await store.effective_control_for(conn, decision.account)
        verdict = self._not_managed(decision, control, PortfolioState(decision.account),
                                    self.clock(decision.decided_at))
        terms = OrderTerms.of_decision(decision)
        wire_verdict = to_risk_verdict(verdict, terms)
        await verdicts.store_verdict(conn, wire_verdict, None)
        return self.judged(decision, verdict, wire_verdict, None)

    def republish(self, decision: Decision, previous: verdicts.StoredVerdict) -> list[Outgoing]:
        after_commit(self.metrics.replayed.inc)
        log.info("decision already judged; republishing the stored verdict", decision_id=decision.decision_id,
                 outcome=previous.verdict.outcome.value)
        return self._outputs(previous.verdict, previous.approved_order)

    def judged(self, decision: Decision, verdict: Verdict, wire_verdict: RiskVerdict,
                order: ApprovedOrder | None) -> list[Outgoing]:
        after_commit(lambda: self._count(verdict))
        log.info("verdict", decision_id=decision.decision_id, symbol=decision.symbol,
                 outcome=wire_verdict.outcome.value, reasons=list(verdict.reason_codes),
                 approved_qty=str(verdict.approved_qty), client_order_id=order.client_order_id if order else None)
        return self._outputs(wire_verdict, order)

    @staticmethod
    def _not_managed(decision: Decision, control: TradingPosture, portfolio: PortfolioState,
                     now: datetime) -> Verdict:
        """Another account's decision: vetoed (fail closed) and recorded, so it is visible, not lost."""
        intent = decision.intent
        side = intent.action.side
        return Verdict(False, (r.ACCOUNT_NOT_MANAGED,), side, intent.qty, Decimal(0),
                       client_order_id(decision.account, decision.decision_id),
                       effective_trading_state(control, portfolio), reference_price(decision), True, now)

    def _count(self, verdict: Verdict) -> None:
        self.metrics.verdicts.labels(outcome="approve" if verdict.approved else "veto").inc()
        for code in verdict.reason_codes:
            self.metrics.reasons.labels(reason=code).inc()
        if verdict.clamp is not None:
            self.metrics.clamps.inc()

    @staticmethod
    def _outputs(verdict: RiskVerdict, order: ApprovedOrder | None) -> list[Outgoing]:
        out = [Outgoing(topics.RISK_VERDICTS, verdict, discriminator=f"verdict:{verdict.decision_id}")]
        if order is not None:
            out.append(Outgoing(topics.ORDERS_APPROVED, order, discriminator=f"order:{order.client_order_id}"))
        return out

    # -- end-of-day sweep ----------------------------------------------------------------------------
    async def sweep(self, conn: AsyncConnection, portfolio: PortfolioState, control: TradingPosture,
                     market: MarketState, now: datetime) -> tuple[PortfolioState, list[Outgoing]]:
        result = sweep(portfolio, control, self.current_limits(), market, now)
        outputs: list[Outgoing] = []
        for latch in result.new_latches:
            after_commit(self.metrics.latches.labels(reason=latch.reason).inc)
            await store.record_latch_event(conn, portfolio.account, "latched", latch)
            log.warning("latched stop", account=portfolio.account, reason=latch.reason, detail=latch.detail)
        for flatten in result.flatten_orders:
            terms = OrderTerms.of_flatten(portfolio.account, flatten)
            if await verdicts.stored_verdict(conn, portfolio.account, flatten.decision_id) is not None:
                continue
            wire_verdict = to_risk_verdict(flatten.verdict, terms)
            order = to_approved_order(flatten.verdict, terms)
            await verdicts.store_verdict(conn, wire_verdict, order)
            after_commit(self.metrics.flatten_orders.inc)
            log.warning("scheduled flatten order", symbol=flatten.symbol, side=order.side.value, qty=str(order.qty),
                        client_order_id=order.client_order_id)
            outputs.extend(self._outputs(wire_verdict, order))
        return result.portfolio, outputs

    async def sweep_locked(self, conn: AsyncConnection, now: datetime) -> list[Outgoing]:
        """Sweep every account (locked one after the other, in account order, as a group locks them)."""
        outputs: list[Outgoing] = []
        for account in self.accounts:
            portfolio = await store.lock_account(conn, account)
            control = await store.effective_control_for(conn, account)
            market = await store.market_for(conn, store.symbols_of_interest(portfolio))
            swept, swept_outputs = await self.sweep(conn, portfolio, control, market, now)
            if swept != portfolio:
                await store.save_account(conn, swept)
            outputs.extend(swept_outputs)
        return outputs

    def sweep_due(self, now: datetime) -> bool:
        return self.limits.enforce_trading_windows and session_phase(now, self.limits) in (
            SessionPhase.FLATTEN, SessionPhase.MUST_BE_FLAT)

    # -- market signals ------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.clock = judging_clock(self.clock_mode)
        self.on_signal = SignalMarks(self)
        """The TA-signal handler (batched): marks buffered per batch, written at its end."""
        self.on_decision = DecisionJudge(self)
        """The decision handler: a group commit's decisions judged against their locked accounts."""
        self.on_trade_update = AccountsLockedFirst(self, self.apply_trade_update, topics.TRADE_UPDATES.key)
        """The trade-update handler (group commit): a group's accounts locked first, in order."""
        self.on_snapshot = AccountsLockedFirst(self, self.apply_snapshot, topics.ACCOUNT_SNAPSHOTS.key)
        """The account-snapshot handler (group commit): a group's accounts locked first, in order."""

    # -- trade updates -------------------------------------------------------------------------------
    async def apply_trade_update(self, inbound: Inbound[TradeUpdate], conn: AsyncConnection) -> list[Outgoing]:
        update = inbound.payload
        if not self.manages(update.account):
            after_commit(self.metrics.trade_updates.labels(outcome="other_account").inc)
            return []
        portfolio, fresh = await store.lock_and_remember_trade_update(conn, update)
        if not fresh:
            after_commit(self.metrics.trade_updates.labels(outcome="duplicate").inc)
            return []
        portfolio = apply_trade_update(portfolio, update)
        after_commit(self.metrics.trade_updates.labels(outcome="applied").inc)
        return await self._save_after_sweep(conn, portfolio, self._sweep_time(update.timestamp))

    # -- account snapshots ---------------------------------------------------------------------------
    async def apply_snapshot(self, inbound: Inbound[AccountSnapshot], conn: AsyncConnection) -> list[Outgoing]:
        snapshot = inbound.payload
        if not self.manages(snapshot.account):
            return []
        portfolio = await store.lock_account(conn, snapshot.account)
        portfolio = apply_snapshot(portfolio, snapshot, day_from_stamp=self.clock_mode == "wall")
        now = self.clock(snapshot.as_of)
        latches = detect_latches(portfolio, self.current_limits(), now)
        for latch in latches:
            after_commit(self.metrics.latches.labels(reason=latch.reason).inc)
            await store.record_latch_event(conn, portfolio.account, "latched", latch)
            log.warning("latched stop", account=portfolio.account, reason=latch.reason, detail=latch.detail)
        portfolio = with_latches(portfolio, latches)
        return await self._save_after_sweep(conn, portfolio, self._sweep_time(snapshot.as_of))

    def _sweep_time(self, venue_time: datetime) -> datetime | None:
        """When a trade update or a snapshot runs the scheduled sweep: live, now; in a replay, never.

        Their stamps are the venue's, not the replayed session's: a snapshot is stamped when the router
        reads the account (by the wall clock, also in a replay), a fill when the venue made it. Judged at
        such a stamp, a replay run between 15:45 and 16:00 New York time was flattened at the wall's
        time of day. The session's signals run the sweep at their own times (``SignalMarks``).
        """
        return self.clock(venue_time) if self.clock_mode == "wall" else None

    async def _save_after_sweep(self, conn: AsyncConnection, portfolio: PortfolioState,
                                now: datetime | None) -> list[Outgoing]:
        """Run the scheduled flatten / must-be-flat sweep when due at ``now`` (None: not at all), then
        persist the account."""
        outputs: list[Outgoing] = []
        if now is not None and self.sweep_due(now):
            control = await store.effective_control_for(conn, portfolio.account)
            market = await store.market_for(conn, store.symbols_of_interest(portfolio))
            portfolio, outputs = await self.sweep(conn, portfolio, control, market, now)
        await store.save_account(conn, portfolio)
        return outputs

    # -- operator control ----------------------------------------------------------------------------
    async def on_control(self, inbound: Inbound[ControlCommand], conn: AsyncConnection) -> list[Outgoing]:
        command = inbound.payload
        applied = await store.save_control(conn, command)
        log.info("control command", scope=command.scope, kill_switch=command.kill_switch,
                 trading_state=command.trading_state.value, applied=applied, command_id=command.command_id)
        return []
