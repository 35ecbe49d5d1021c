"""What each panel reads: small queries over the read model, each returning plain rows for a template."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.average_cost import SymbolBook, account_pnl

from ..domain.reconcile import position_gaps
from . import store

Rows = list[dict[str, Any]]


def _rows(result: sa.CursorResult[Any]) -> Rows:
    return [dict(r._mapping) for r in result]


async def stage_counts(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    result = await conn.execute(sa.select(store.stage_counts))
    return {r.stage: dict(r._mapping) for r in result}


async def dead_letters(conn: AsyncConnection) -> Rows:
    return _rows(await conn.execute(sa.select(store.dead_letters).order_by(store.dead_letters.c.last_at.desc())))


async def latest_decisions(conn: AsyncConnection, *, limit: int, symbol: str | None = None,
                           outcome: str | None = None) -> Rows:
    d = store.decisions
    query = sa.select(d).order_by(sa.func.coalesce(d.c.decided_at, d.c.verdict_at).desc()).limit(limit)
    if symbol:
        query = query.where(d.c.symbol == symbol)
    if outcome == "pending":
        query = query.where(d.c.verdict.is_(None))
    elif outcome:
        query = query.where(d.c.verdict == outcome)
    return _rows(await conn.execute(query))


async def chain(conn: AsyncConnection, correlation_id: str) -> Rows:
    """Every hop of a correlation id in the order it was produced, led by the signal that caused it."""
    h = store.hops
    hops = _rows(await conn.execute(sa.select(h).where(h.c.correlation_id == correlation_id)
                                    .order_by(h.c.produced_at, h.c.message_id)))
    causes = {hop["causation_id"] for hop in hops if hop["causation_id"]} - {hop["message_id"] for hop in hops}
    if causes:
        earlier = _rows(await conn.execute(sa.select(h).where(h.c.message_id.in_(causes))
                                           .order_by(h.c.produced_at)))
        hops = earlier + hops
    return hops


async def account_view(conn: AsyncConnection) -> dict[str, Any]:
    """Per account: the positions folded from fills at their marks, the P&L, the venue's own snapshot."""
    p, m = store.positions, store.marks
    query = sa.select(p, m.c.price.label("mark")).join(m, m.c.symbol == p.c.symbol, isouter=True)
    rows = _rows(await conn.execute(query.order_by(p.c.account, p.c.symbol)))
    snapshots = {r["account"]: r for r in _rows(await conn.execute(sa.select(store.accounts)))}
    accounts: dict[str, dict[str, Any]] = {}
    for row in rows:
        book = SymbolBook(row["qty"], row["cost"], row["realized"])
        entry = accounts.setdefault(row["account"], {"positions": [], "books": {}, "marks": {}})
        entry["books"][row["symbol"]] = book
        if row["mark"] is not None:
            entry["marks"][row["symbol"]] = row["mark"]
        entry["positions"].append({
            "symbol": row["symbol"], "qty": book.qty, "average": book.average_price, "mark": row["mark"],
            "exposure": book.exposure(row["mark"]), "realized": book.realized,
            "unrealized": book.unrealized(row["mark"])})
    for name, entry in accounts.items():
        entry["pnl"] = account_pnl(entry.pop("books"), entry.pop("marks"))
        entry["exposure"] = sum(position["exposure"] for position in entry["positions"])
        entry["snapshot"] = snapshots.get(name)
    for name, snapshot in snapshots.items():
        accounts.setdefault(name, {"positions": [], "pnl": None, "exposure": 0, "snapshot": snapshot})
        at = snapshot["fills_through"] or snapshot["as_of"]
        accounts[name]["reconciled_at"] = at
        accounts[name]["gaps"] = position_gaps(await positions_from_fills(conn, name, at),
                                               {s: Decimal(q) for s, q in snapshot["positions"].items()})
    return accounts


async def positions_from_fills(conn: AsyncConnection, account: str, through: datetime) -> dict[str, Decimal]:
    """Each symbol's quantity from the fills the console holds, filled at or before ``through``."""
    f = store.fills
    signed = sa.case((f.c.side == "buy", f.c.qty), else_=-f.c.qty)
    result = await conn.execute(sa.select(f.c.symbol, sa.func.sum(signed))
                                .where(f.c.account == account, f.c.filled_at <= through).group_by(f.c.symbol))
    return {symbol: qty for symbol, qty in result}


async def pnl_series(conn: AsyncConnection, *, limit: int = 2000) -> dict[str, Rows]:
    """The account's P&L after each fill, oldest first (the chart over the session)."""
    f = store.fills
    rows = _rows(await conn.execute(sa.select(f.c.account, f.c.filled_at, f.c.realized_pl, f.c.unrealized_pl)
                                    .order_by(f.c.filled_at.desc()).limit(limit)))
    series: dict[str, Rows] = {}
    for row in reversed(rows):
        series.setdefault(row["account"], []).append(row)
    return series


async def blotter(conn: AsyncConnection, *, limit: int) -> Rows:
    o = store.orders
    return _rows(await conn.execute(sa.select(o).order_by(o.c.updated_at.desc()).limit(limit)))


async def control_now(conn: AsyncConnection) -> Rows:
    """The latest command of each scope (the compacted topic's last word: the highest offset)."""
    c = store.control
    return _rows(await conn.execute(sa.select(c).distinct(c.c.scope).order_by(c.c.scope, c.c.offset_seen.desc())))


async def control_history(conn: AsyncConnection, *, limit: int) -> Rows:
    c = store.control
    return _rows(await conn.execute(sa.select(c).order_by(c.c.offset_seen.desc()).limit(limit)))


async def whitepaper_runs(conn: AsyncConnection, *, limit: int) -> Rows:
    w = store.whitepaper_runs
    return _rows(await conn.execute(sa.select(w).order_by(w.c.occurred_at.desc()).limit(limit)))


async def lane_runs(conn: AsyncConnection, *, limit: int) -> Rows:
    r = store.lane_runs
    return _rows(await conn.execute(sa.select(r).order_by(r.c.evaluated_at.desc(), r.c.run_id).limit(limit)))
