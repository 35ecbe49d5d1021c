"""Account snapshots are remembered; a claimed trigger is decided.

Triggers are claimed by :mod:`.intake` (a stored decision is republished as is, so a replay never
reaches an engine). The claim worker (``worker``) then calls :meth:`DecisionHandlers.decide` with no
connection held: the portfolio comes from the snapshot (none or stale: hold without asking an
engine), the request goes to the primary transport and, in DSPy shadow mode, to the shadow program
beside it; the outcome, success or hold, is stored and published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.decision_engine import DecisionRequest, ExecutionContext, RiskPolicyContext
from torghut_contracts.models import AccountSnapshot, Decision, ShadowVerdict, StrategyTrigger
from torghut_runtime import Inbound, Outgoing, after_commit
from torghut_runtime.flags import FeatureFlags, Flag

from ..domain import reasons
from ..domain.outcome import (
    FAIL_CLOSED_MODE,
    EngineOutcome,
    Provenance,
    decision_from_outcome,
    failure,
    hold_without_engine,
    shadow_verdict,
)
from ..domain.portfolio import PortfolioUnavailable, portfolio_context
from ..domain.request import build_request
from ..metrics import DecisionMetrics
from ..settings import DecisionClientSettings
from . import store
from .transport import DecisionTransport

log = structlog.get_logger("torghut.decision_client")


class DecisionHandlers:
    def __init__(self, settings: DecisionClientSettings, transport: DecisionTransport, *,
                 shadow: DecisionTransport | None, metrics: DecisionMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 flags: FeatureFlags | None = None, dspy_active: DecisionTransport | None = None) -> None:
        """``flags`` (enabled): LEAN-enabled and DSPy-active are read per trigger. ``dspy_active`` is the
        compiled program to use as the primary while the DSPy flag is on (configured mode shadow)."""
        self.settings = settings
        self.flags = flags if flags is not None and flags.enabled else None
        self.dspy_active = dspy_active
        self.account = settings.torghut_account
        self.transport = transport
        self.shadow = shadow
        self.metrics = metrics
        self.clock = clock
        self.risk_policy = RiskPolicyContext(
            max_notional_per_trade=settings.risk_max_notional_per_trade,
            max_position_pct_equity=settings.risk_max_position_pct_equity,
            kill_switch_enabled=settings.risk_kill_switch_enabled)
        self.execution = ExecutionContext(primary_adapter=settings.execution_primary_adapter,
                                          lean_enabled=settings.execution_lean_enabled, mode=settings.trading_mode)
        self._execution_by_lean = {value: self.execution.model_copy(update={"lean_enabled": value})
                                   for value in (False, True)}
        self._execution_by_lean[settings.execution_lean_enabled] = self.execution
        self._configured_active = settings.llm_dspy_runtime_mode.strip().lower() == "active"

    def _routing(self) -> tuple[ExecutionContext, DecisionTransport | None, DecisionTransport | None]:
        """The execution context, primary transport and shadow for the next trigger (None primary: hold,
        the DSPy program is the only transport and its flag is off)."""
        if self.flags is None:
            return self.execution, self.transport, self.shadow
        execution = self._execution_by_lean[self.flags.value(Flag.LEAN_ENABLED)]
        active = self.flags.value(Flag.LLM_DSPY_ACTIVE)
        if self._configured_active:
            return execution, self.transport if active else None, None
        if active and self.dspy_active is not None:
            return execution, self.dspy_active, None
        return execution, self.transport, self.shadow

    async def on_snapshot(self, inbound: Inbound[AccountSnapshot], conn: AsyncConnection) -> list[Outgoing]:
        kept = await store.remember_snapshot(conn, inbound.payload)
        if not kept:
            log.info("ignoring an older account snapshot", account=inbound.payload.account,
                     snapshot_id=inbound.payload.snapshot_id)
        return []

    async def decide(self, trigger: StrategyTrigger, snapshot: AccountSnapshot | None) -> Decision:
        """A claimed trigger's decision (the slow part: the engine, the DSPy program); counted by the
        caller's commit hooks once the decision is stored."""
        decision = await self._decide(trigger, snapshot)
        self._count(decision)
        return decision

    async def _decide(self, trigger: StrategyTrigger, snapshot: AccountSnapshot | None) -> Decision:
        portfolio = portfolio_context(snapshot, symbol=trigger.symbol, at=trigger.event_ts,
                                      max_age=timedelta(seconds=self.settings.portfolio_max_age_s))
        if isinstance(portfolio, PortfolioUnavailable):
            log.warning("no usable portfolio; holding", request_id=trigger.request_id, reason=portfolio.reason,
                        detail=portfolio.detail)
            return hold_without_engine(trigger, account=self.account, transport=self.transport.name,
                                       reason=portfolio.reason, detail=portfolio.detail,
                                       decided_at=self._decided_at(trigger))
        execution, primary, shadow_transport = self._routing()
        if primary is None:
            return hold_without_engine(trigger, account=self.account, transport=self.transport.name,
                                       reason=reasons.DSPY_NOT_ACTIVE,
                                       detail="LLM_DSPY_RUNTIME_MODE=active but the torghut_llm_dspy_active "
                                              "flag is off",
                                       decided_at=self._decided_at(trigger))
        request = build_request(trigger, account=self.account, portfolio=portfolio, risk_policy=self.risk_policy,
                                execution=execution,
                                required_domains=self.settings.decision_required_domains.get(trigger.strategy_id))
        if shadow_transport is None:
            outcome = await self._run(primary, request)
            shadow = None
        else:
            outcome, shadow_outcome = await asyncio.gather(self._run(primary, request),
                                                           self._run(shadow_transport, request))
            shadow = shadow_verdict(shadow_outcome, artifact_hash=shadow_outcome.provenance.artifact_hash)
            self._count_shadow(shadow, outcome)
        return decision_from_outcome(trigger, account=self.account, outcome=outcome,
                                     decided_at=self._decided_at(trigger), shadow=shadow)

    def _decided_at(self, trigger: StrategyTrigger) -> datetime:
        """Wall-clock time live; the trigger's event time when replaying a recorded session, so the
        firewall's event clock judges the decision in the session it belongs to."""
        return trigger.event_ts if self.settings.clock == "event" else self.clock()

    async def _run(self, transport: DecisionTransport, request: DecisionRequest) -> EngineOutcome:
        started = time.perf_counter()
        try:
            return await transport.decide(request)
        except Exception as exc:  # a transport bug must still end in a published hold, not a trade or a DLQ
            log.exception("transport failed unexpectedly; holding", transport=transport.name,
                          request_id=request.request_id)
            return failure(reasons.ENGINE_ERROR, f"decision client error: {type(exc).__name__}: {exc}"[:2000],
                           Provenance(transport=transport.name))
        finally:
            self.metrics.engine_seconds.labels(transport=transport.name).observe(time.perf_counter() - started)

    def _count(self, decision: Decision) -> None:
        after_commit(lambda: self._count_committed(decision))
        log.info("decision", request_id=decision.request_id, decision_id=decision.decision_id,
                 action=decision.intent.action.value, qty=str(decision.intent.qty),
                 reason_codes=decision.reason_codes, transport=decision.provenance.transport,
                 run_id=decision.provenance.run_id, latency_ms=str(decision.provenance.latency_ms))

    def _count_committed(self, decision: Decision) -> None:
        self.metrics.decisions.labels(transport=decision.provenance.transport,
                                      action=decision.intent.action.value).inc()
        for reason in decision.reason_codes if decision.provenance.mode == FAIL_CLOSED_MODE else ():
            self.metrics.holds.labels(reason=reason).inc()

    def _count_shadow(self, shadow: ShadowVerdict, outcome: EngineOutcome) -> None:
        primary_action = getattr(getattr(outcome, "intent", None), "action", None)
        after_commit(self.metrics.shadow.labels(action=shadow.action.value,
                                                agrees=str(primary_action == shadow.action).lower()).inc)
