"""The Kafka handlers: every topic the operator looks at, folded into the read model.

Each topic is consumed in batches. A handler buffers what every record of the pass shares (its
hop, the stage's count, the marks) and writes it at ``flush``, with one ``pg_notify`` naming the
panels that changed, so every console replica's pages update once the transaction commits; what
only one record touches (a decision's row, a fill and the book it moves) it writes at once, in the
transaction. The runtime applies a record's effects once: a redelivered batch's work is rolled
back and done again, never twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.average_cost import SymbolBook, account_pnl
from torghut_contracts.enums import FILL_EVENTS
from torghut_contracts.models import (
    AccountSnapshot,
    ApprovedOrder,
    ControlCommand,
    Decision,
    LaneRun,
    RiskVerdict,
    TaSignal,
    TradeUpdate,
    WhitepaperRunEvent,
)
from torghut_runtime import Inbound, Outgoing

from .adapters import store
from .domain.stages import describe
from .panels import Panel

Apply = Callable[[Any, Inbound[Any], AsyncConnection], Awaitable[None]]


class Projection:
    """One topic into the read model: hops and counts buffered per pass, the topic's own rows at once."""

    def __init__(self, panels: set[Panel], apply: Apply | None = None, *, lazy: bool = False) -> None:
        self.panels = panels
        self.apply = apply
        self.lazy = lazy
        """Its changes may reach the pages a little later (signals: see :mod:`.adapters.live`)."""
        self._hops: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._last_at: dict[str, datetime] = {}

    async def __call__(self, inbound: Inbound[Any], conn: AsyncConnection) -> list[Outgoing]:
        hop = describe(inbound.payload)
        produced_at = inbound.headers.produced_at or inbound.timestamp
        if hop is not None:
            self._hops.append({
                "message_id": inbound.headers.message_id, "correlation_id": inbound.headers.correlation_id,
                "causation_id": inbound.headers.causation_id, "stage": hop.stage.value, "topic": inbound.topic,
                "symbol": hop.symbol, "summary": hop.summary, "produced_at": produced_at})
            self._counts[hop.stage.value] += 1
            self._last_at[hop.stage.value] = max(produced_at, self._last_at.get(hop.stage.value, produced_at))
        if self.apply is not None:
            await self.apply(inbound.payload, inbound, conn)
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        await store.add_hops(conn, self._hops)
        for stage, seen in sorted(self._counts.items()):
            await store.count_stage(conn, stage, seen, self._last_at[stage])
        await self.flush_own(conn)
        await store.notify(conn, self.panels, lazy=self.lazy)
        self.discard()

    async def flush_own(self, conn: AsyncConnection) -> None:
        """What a subclass buffers of its own."""

    def discard(self) -> None:
        self._hops, self._counts, self._last_at = [], Counter(), {}


class SignalProjection(Projection):
    """Signals, the busiest topic: besides the hop and the count, each symbol's latest mark, once per pass."""

    def __init__(self) -> None:
        super().__init__({Panel.PIPELINE, Panel.ACCOUNT}, lazy=True)
        self._marks: dict[str, tuple[Decimal, datetime]] = {}

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        signal, price = inbound.payload, inbound.payload.mark_price
        held = self._marks.get(signal.symbol)
        if price is not None and (held is None or held[1] <= signal.event_ts):
            self._marks[signal.symbol] = (price, signal.event_ts)
        return await super().__call__(inbound, conn)

    async def flush_own(self, conn: AsyncConnection) -> None:
        await store.set_marks(conn, self._marks)

    def discard(self) -> None:
        super().discard()
        self._marks = {}


async def apply_decision(decision: Decision, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    provenance = decision.provenance
    await store.upsert_decision(conn, {
        "decision_id": decision.decision_id, "correlation_id": inbound.headers.correlation_id,
        "account": decision.account, "symbol": decision.symbol, "action": decision.intent.action.value,
        "qty": decision.intent.qty, "confidence": decision.confidence,
        "rationale": "; ".join(decision.uncertainty_notes) or None,
        "engine": f"{provenance.transport} / {provenance.mode}", "decision_reasons": list(decision.reason_codes),
        "risk_flags": list(decision.risk_flags), "decided_at": decision.decided_at, "verdict": None,
        "verdict_reasons": [], "approved_qty": None, "trading_state": None, "verdict_at": None})


async def apply_verdict(verdict: RiskVerdict, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.upsert_verdict(conn, {
        "decision_id": verdict.decision_id, "correlation_id": inbound.headers.correlation_id,
        "account": verdict.account, "symbol": verdict.symbol, "verdict": verdict.outcome.value,
        "verdict_reasons": list(verdict.reason_codes), "approved_qty": verdict.approved_qty,
        "trading_state": verdict.trading_state.value, "verdict_at": verdict.decided_at, "action": None, "qty": None,
        "confidence": None, "rationale": None, "engine": None, "decision_reasons": [], "risk_flags": [],
        "decided_at": None})


async def apply_order(order: ApprovedOrder, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.insert_order(conn, {
        "client_order_id": order.client_order_id, "account": order.account, "symbol": order.symbol,
        "side": order.side.value, "qty": order.qty, "status": "approved", "filled_qty": Decimal(0),
        "filled_avg_price": None, "correlation_id": inbound.headers.correlation_id, "updated_at": order.approved_at})


async def apply_trade_update(update: TradeUpdate, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    order = update.order
    await store.upsert_order_state(conn, {
        "client_order_id": order.client_order_id, "account": update.account, "symbol": order.symbol,
        "side": order.side.value, "qty": order.qty, "status": order.status.value, "filled_qty": order.filled_qty,
        "filled_avg_price": order.filled_avg_price, "correlation_id": inbound.headers.correlation_id,
        "updated_at": update.timestamp})
    if update.event not in FILL_EVENTS or update.fill_qty is None or update.fill_price is None:
        return
    books = await store.load_books(conn, update.account)
    books[order.symbol] = books.get(order.symbol, SymbolBook()).after_fill(order.side, update.fill_qty,
                                                                                update.fill_price)
    pnl = account_pnl(books, await store.load_marks(conn, books))
    recorded = await store.add_fill(conn, {
        "fingerprint": update.fingerprint, "account": update.account, "symbol": order.symbol,
        "side": order.side.value, "qty": update.fill_qty, "price": update.fill_price,
        "client_order_id": order.client_order_id, "filled_at": update.timestamp,
        "realized_pl": pnl.realized, "unrealized_pl": pnl.unrealized})
    if recorded:
        await store.save_book(conn, update.account, order.symbol, books[order.symbol])


async def apply_snapshot(snapshot: AccountSnapshot, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.upsert_account(conn, {
        "account": snapshot.account, "venue": snapshot.venue.value, "equity": snapshot.equity, "cash": snapshot.cash,
        "buying_power": snapshot.buying_power, "as_of": snapshot.as_of,
        "positions": {p.symbol: str(p.qty) for p in snapshot.positions}, "fills_through": snapshot.fills_through})


async def apply_control(command: ControlCommand, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.add_control(conn, {
        "command_id": command.command_id, "scope": command.scope, "kill_switch": command.kill_switch,
        "trading_state": command.trading_state.value, "reason": command.reason, "issued_by": command.issued_by,
        "issued_at": command.issued_at, "offset_seen": inbound.offset})


async def apply_lane_run(run: LaneRun, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.add_lane_run(conn, {
        "run_id": run.run_id, "candidate_id": run.candidate_id, "evaluated_at": run.evaluated_at,
        "promotion_target": run.promotion_target, "action": run.action, "recommended_mode": run.recommended_mode,
        "reasons": list(run.reasons), "gates": [gate.model_dump(mode="json") for gate in run.gates],
        "manifest_sha256": run.manifest_sha256, "paper_patch": run.paper_patch, "code_version": run.code_version})


async def apply_run(event: WhitepaperRunEvent, inbound: Inbound[Any], conn: AsyncConnection) -> None:
    await store.upsert_run(conn, {
        "run_id": event.run_id, "repository": event.repository, "issue_number": event.issue_number,
        "status": event.status.value, "reason": event.reason, "occurred_at": event.occurred_at})
