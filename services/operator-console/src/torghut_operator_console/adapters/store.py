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
from torghut_contracts.average_cost import SymbolBook

from .tables import (
    AccountRow,
    ControlRow,
    DeadLetterOffsetRow,
    DeadLetterRow,
    DecisionRow,
    FillRow,
    HopRow,
    LaneRunRow,
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
lane_runs = LaneRunRow.__table__  # type: ignore[attr-defined]
dead_letters = DeadLetterRow.__table__  # type: ignore[attr-defined]
dead_letter_offsets = DeadLetterOffsetRow.__table__  # type: ignore[attr-defined]

NOTIFY_CHANNEL = "torghut_console"
LAZY = "~"
"""Before a notification's panels: they changed with signals only, and may wait (see :mod:`.live`)."""
EMPTY_BOOK = SymbolBook()


# -- the projection's writes, each statement built once --------------------------------------------
def _upsert(table: sa.Table, keys: list[str], columns: Iterable[str], *, where: Any = None,
            **expressions: Any) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET each column to the new row's (or its expression)."""
    statement = insert(table)
    set_ = {c: statement.excluded[c] for c in columns}
    set_.update({c: make(statement.excluded) for c, make in expressions.items()})
    return statement.on_conflict_do_update(index_elements=keys, set_=set_, where=where)


_ADD_HOPS = insert(hops).on_conflict_do_nothing(index_elements=["message_id"])
_COUNT_STAGE = _upsert(stage_counts, ["stage"], (),
                       seen=lambda new: stage_counts.c.seen + new.seen,
                       last_at=lambda new: sa.func.greatest(stage_counts.c.last_at, new.last_at))
_SET_MARK = _upsert(marks, ["symbol"], ("price", "event_ts"),
                    where=marks.c.event_ts <= insert(marks).excluded.event_ts)
DECISION_COLUMNS = ("action", "qty", "confidence", "rationale", "engine", "decision_reasons", "risk_flags",
                    "decided_at")
VERDICT_COLUMNS = ("verdict", "verdict_reasons", "approved_qty", "trading_state", "verdict_at")
_UPSERT_DECISION = _upsert(decisions, ["decision_id"], DECISION_COLUMNS)
_UPSERT_VERDICT = _upsert(decisions, ["decision_id"], VERDICT_COLUMNS)
_INSERT_ORDER = insert(orders).on_conflict_do_nothing(index_elements=["client_order_id"])
_UPSERT_ORDER_STATE = _upsert(orders, ["client_order_id"], ("status", "filled_qty", "filled_avg_price", "updated_at"))
_ADD_FILL = insert(fills).on_conflict_do_nothing(index_elements=["fingerprint"]).returning(fills.c.fingerprint)
_SAVE_BOOK = _upsert(positions, ["account", "symbol"], ("qty", "cost", "realized"))
_UPSERT_ACCOUNT = _upsert(accounts, ["account"], ("venue", "equity", "cash", "buying_power", "as_of", "positions",
                                                  "fills_through"),
                          where=accounts.c.as_of <= insert(accounts).excluded.as_of)
_ADD_CONTROL = insert(control).on_conflict_do_nothing(index_elements=["command_id"])
_UPSERT_RUN = _upsert(whitepaper_runs, ["run_id"], ("repository", "issue_number", "status", "reason", "occurred_at"),
                      where=whitepaper_runs.c.occurred_at <= insert(whitepaper_runs).excluded.occurred_at)
_ADD_LANE_RUN = insert(lane_runs).on_conflict_do_nothing(index_elements=["run_id"])
"""A run id names one run directory (its inputs, target and time): the same run published twice is one row."""
_NOTIFY = sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, sa.bindparam("panels", type_=sa.Text)))


async def add_hops(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_ADD_HOPS, list(rows))


async def count_stage(conn: AsyncConnection, stage: str, seen: int, last_at: datetime) -> None:
    await conn.execute(_COUNT_STAGE, {"stage": stage, "seen": seen, "last_at": last_at})


async def set_marks(conn: AsyncConnection, latest: dict[str, tuple[Decimal, datetime]]) -> None:
    """Each symbol's mark, unless the table holds a later one (signals of one symbol arrive in order,
    but a replay of an older day must not overwrite today)."""
    if latest:
        rows = [{"symbol": symbol, "price": price, "event_ts": ts} for symbol, (price, ts) in sorted(latest.items())]
        await conn.execute(_SET_MARK, rows)


async def upsert_decision(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The decision's columns of its row, inserting the row if its verdict has not come first."""
    await conn.execute(_UPSERT_DECISION, row)


async def upsert_verdict(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The verdict's columns of its decision's row, inserting the row if the decision has not come yet."""
    await conn.execute(_UPSERT_VERDICT, row)


async def insert_order(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """An approved order; if a trade update about it came first, the update's later state stays."""
    await conn.execute(_INSERT_ORDER, row)


async def upsert_order_state(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The state a trade update reports (one order's updates arrive in order: they share the account's key)."""
    await conn.execute(_UPSERT_ORDER_STATE, row)


async def load_books(conn: AsyncConnection, account: str) -> dict[str, SymbolBook]:
    """The account's books, locked: fills of one account are folded by one transaction at a time."""
    result = await conn.execute(sa.select(positions).where(positions.c.account == account).with_for_update())
    return {r.symbol: SymbolBook(r.qty, r.cost, r.realized) for r in result}


async def save_book(conn: AsyncConnection, account: str, symbol: str, book: SymbolBook) -> None:
    await conn.execute(_SAVE_BOOK, {"account": account, "symbol": symbol, "qty": book.qty, "cost": book.cost,
                                    "realized": book.realized})


async def add_fill(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Record a fill; False if it was recorded before (its fingerprint), and the book must not move."""
    return (await conn.execute(_ADD_FILL, row)).first() is not None


async def load_marks(conn: AsyncConnection, symbols: Iterable[str]) -> dict[str, Decimal]:
    result = await conn.execute(sa.select(marks.c.symbol, marks.c.price).where(marks.c.symbol.in_(list(symbols))))
    return {r.symbol: r.price for r in result}


async def upsert_account(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The venue's snapshot, unless the table holds a later one."""
    await conn.execute(_UPSERT_ACCOUNT, row)


async def add_control(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_ADD_CONTROL, row)


async def add_lane_run(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(_ADD_LANE_RUN, row)


async def upsert_run(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """A run's status, unless the table holds a later one (two events of a run may arrive out of order)."""
    await conn.execute(_UPSERT_RUN, row)


async def notify(conn: AsyncConnection, panels: Iterable[str], *, lazy: bool = False) -> None:
    """Tell every console replica which panels changed; Postgres delivers it when the transaction commits."""
    await conn.execute(_NOTIFY, {"panels": (LAZY if lazy else "") + ",".join(sorted(set(panels)))})


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
