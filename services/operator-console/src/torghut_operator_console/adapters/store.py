"""The statements over the read model: the projection's writes and the pages' reads.

Writes are idempotent on their own (a message id, a fingerprint, a command id is inserted once),
although the runtime already runs a record's effects once; reads are what one panel shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.book import SymbolBook
from .tables import (
    AccountRow,
    ControlRow,
    DeadLetterOffsetRow,
    DeadLetterRow,
    DecisionRow,
    FillRow,
    HopRow,
    MarkRow,
    OrderRow,
    PositionRow,
    StageCountRow,
    WhitepaperRunRow,
)

hops = HopRow.__table__  # type: ignore[attr-defined]
stage_counts = StageCountRow.__table__  # type: ignore[attr-defined]
decisions = DecisionRow.__table__  # type: ignore[attr-defined]
orders = OrderRow.__table__  # type: ignore[attr-defined]
fills = FillRow.__table__  # type: ignore[attr-defined]
positions = PositionRow.__table__  # type: ignore[attr-defined]
marks = MarkRow.__table__  # type: ignore[attr-defined]
accounts = AccountRow.__table__  # type: ignore[attr-defined]
control = ControlRow.__table__  # type: ignore[attr-defined]
whitepaper_runs = WhitepaperRunRow.__table__  # type: ignore[attr-defined]
dead_letters = DeadLetterRow.__table__  # type: ignore[attr-defined]
dead_letter_offsets = DeadLetterOffsetRow.__table__  # type: ignore[attr-defined]

NOTIFY_CHANNEL = "torghut_console"
EMPTY_BOOK = SymbolBook()


# -- the projection's writes ----------------------------------------------------------------------
async def add_hops(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(hops).on_conflict_do_nothing(index_elements=["message_id"]), list(rows))


async def count_stage(conn: AsyncConnection, stage: str, seen: int, last_at: datetime) -> None:
    statement = insert(stage_counts).values(stage=stage, seen=seen, last_at=last_at)
    await conn.execute(statement.on_conflict_do_update(index_elements=["stage"], set_={
        "seen": stage_counts.c.seen + statement.excluded.seen,
        "last_at": sa.func.greatest(stage_counts.c.last_at, statement.excluded.last_at)}))


async def set_marks(conn: AsyncConnection, latest: dict[str, tuple[Decimal, datetime]]) -> None:
    """Each symbol's mark, unless the table holds a later one (signals of one symbol arrive in order,
    but a replay of an older day must not overwrite today)."""
    if not latest:
        return
    statement = insert(marks)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["symbol"], set_={"price": statement.excluded.price, "event_ts": statement.excluded.event_ts},
        where=marks.c.event_ts <= statement.excluded.event_ts),
        [{"symbol": s, "price": p, "event_ts": t} for s, (p, t) in sorted(latest.items())])


async def upsert_decision(conn: AsyncConnection, row: dict[str, Any], *, columns: Iterable[str]) -> None:
    """Insert the decision's row or fill in ``columns`` of it: the decision and its verdict each own theirs."""
    statement = insert(decisions).values(row)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["decision_id"], set_={c: statement.excluded[c] for c in columns}))


async def insert_order(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """An approved order; if a trade update about it came first, the update's later state stays."""
    await conn.execute(insert(orders).values(row).on_conflict_do_nothing(index_elements=["client_order_id"]))


async def upsert_order_state(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The state a trade update reports (one order's updates arrive in order: they share the account's key)."""
    statement = insert(orders).values(row)
    await conn.execute(statement.on_conflict_do_update(index_elements=["client_order_id"], set_={
        c: statement.excluded[c] for c in ("status", "filled_qty", "filled_avg_price", "updated_at")}))


async def load_books(conn: AsyncConnection, account: str) -> dict[str, SymbolBook]:
    """The account's books, locked: fills of one account are folded by one transaction at a time."""
    result = await conn.execute(sa.select(positions).where(positions.c.account == account).with_for_update())
    return {r.symbol: SymbolBook(r.qty, r.cost, r.realized) for r in result}


async def save_book(conn: AsyncConnection, account: str, symbol: str, book: SymbolBook) -> None:
    statement = insert(positions).values(account=account, symbol=symbol, qty=book.qty, cost=book.cost,
                                         realized=book.realized)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["account", "symbol"],
        set_={"qty": book.qty, "cost": book.cost, "realized": book.realized}))


async def add_fill(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Record a fill; False if it was recorded before (its fingerprint), and the book must not move."""
    result = await conn.execute(insert(fills).values(row).on_conflict_do_nothing(index_elements=["fingerprint"])
                                .returning(fills.c.fingerprint))
    return result.first() is not None


async def load_marks(conn: AsyncConnection, symbols: Iterable[str]) -> dict[str, Decimal]:
    result = await conn.execute(sa.select(marks.c.symbol, marks.c.price).where(marks.c.symbol.in_(list(symbols))))
    return {r.symbol: r.price for r in result}


async def upsert_account(conn: AsyncConnection, row: dict[str, Any]) -> None:
    statement = insert(accounts).values(row)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["account"], set_={c: statement.excluded[c] for c in row if c != "account"},
        where=accounts.c.as_of <= statement.excluded.as_of))


async def add_control(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert(control).values(row).on_conflict_do_nothing(index_elements=["command_id"]))


async def upsert_run(conn: AsyncConnection, row: dict[str, Any]) -> None:
    statement = insert(whitepaper_runs).values(row)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=["run_id"], set_={c: statement.excluded[c] for c in row if c != "run_id"},
        where=whitepaper_runs.c.occurred_at <= statement.excluded.occurred_at))


async def notify(conn: AsyncConnection, panels: Iterable[str]) -> None:
    """Tell every console replica which panels changed; Postgres delivers it when the transaction commits."""
    await conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, ",".join(sorted(set(panels))))))


async def prune_hops(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(hops.delete().where(hops.c.produced_at < before))
    return int(result.rowcount or 0)


# -- the dead-letter reader -----------------------------------------------------------------------
async def lock_dead_letters(conn: AsyncConnection) -> None:
    """Serialise the replicas' dead-letter counting until the transaction ends."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext("torghut_console_dead_letters"))))


async def dead_letter_positions(conn: AsyncConnection) -> dict[tuple[str, int], int]:
    result = await conn.execute(sa.select(dead_letter_offsets))
    return {(r.topic, r.partition): r.next_offset for r in result}


async def record_dead_letters(conn: AsyncConnection, counts: dict[str, dict[str, Any]],
                              next_offsets: dict[tuple[str, int], int]) -> None:
    """Count what was read and move the reader on, in one transaction: each dead letter counted once."""
    for topic, seen in sorted(counts.items()):
        statement = insert(dead_letters).values(topic=topic, **seen)
        await conn.execute(statement.on_conflict_do_update(index_elements=["topic"], set_={
            "seen": dead_letters.c.seen + statement.excluded.seen, "last_reason": statement.excluded.last_reason,
            "last_error": statement.excluded.last_error, "last_consumer": statement.excluded.last_consumer,
            "last_at": statement.excluded.last_at}))
    for (topic, partition), offset in sorted(next_offsets.items()):
        statement = insert(dead_letter_offsets).values(topic=topic, partition=partition, next_offset=offset)
        await conn.execute(statement.on_conflict_do_update(
            index_elements=["topic", "partition"], set_={"next_offset": offset}))
