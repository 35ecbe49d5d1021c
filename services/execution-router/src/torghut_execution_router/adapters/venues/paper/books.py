"""The paper venue's books in Postgres: its statements and rows.

The hot statements are built once and executed with parameter dicts: no per-call statement
construction or cache-key walk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import NullType
from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce

from ....domain import paper
from ...tables import paper_accounts, paper_fills, paper_orders, paper_positions, paper_quotes

OPEN_STATUSES = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def paper_order_id(account: str, client_order_id: str) -> str:
    return "paper-" + hashlib.sha256(f"{account}|{client_order_id}".encode()).hexdigest()[:24]


def order_of(row: Any) -> paper.PaperOrder:
    return order_from(row._mapping)


def order_from(m: Mapping[str, Any]) -> paper.PaperOrder:
    return paper.PaperOrder(
        client_order_id=m["client_order_id"], venue_order_id=m["venue_order_id"], symbol=m["symbol"],
        side=Side(m["side"]), qty=m["qty"], order_type=OrderType(m["order_type"]), limit_price=m["limit_price"],
        time_in_force=TimeInForce(m["time_in_force"]), status=OrderStatus(m["status"]),
        submitted_at=m["submitted_at"], updated_at=m["updated_at"], reserve_price=m["reserve_price"],
        not_before=m["not_before"], filled_qty=m["filled_qty"], filled_avg_price=m["filled_avg_price"], seq=m["seq"])


LOCK_ACCOUNT = sa.select(paper_accounts).where(paper_accounts.c.account == sa.bindparam("b_account")).with_for_update()
HOLD_ACCOUNT = sa.select(paper_accounts.c.account).where(
    paper_accounts.c.account == sa.bindparam("b_account")).with_for_update()
POSITIONS = sa.select(paper_positions).where(paper_positions.c.account == sa.bindparam("b_account"))
NAMED_ORDER = sa.select(paper_orders).where(paper_orders.c.account == sa.bindparam("b_account"),
                                            paper_orders.c.client_order_id == sa.bindparam("b_coid"))
QUOTES = sa.select(paper_quotes).where(paper_quotes.c.symbol.in_(sa.bindparam("b_symbols", expanding=True)))


def _records(table: sa.Table, *where: Any) -> Any:
    """The rows of ``table`` matching ``where`` as one array of records, NULL when there are none.

    asyncpg decodes each field of a record by its Postgres type, as it does a column, so the rows
    come back as tuples of ``table``'s columns, in order, with no result processing.
    """
    rows = sa.func.array_agg(sa.tuple_(*table.c))
    return sa.select(sa.type_coerce(rows, NullType())).where(*where).scalar_subquery()


#: The book a group of orders is placed against, read in one statement after ``LOCK_ACCOUNT``: the
#: account's positions, its open orders with the orders named ``b_coids`` (the venue's dedupe), and
#: the quotes of ``b_symbols``, each an array of records (``_records``). Not in the locking
#: statement: under READ COMMITTED a statement reads the snapshot it started with, so one that
#: waited for the lock would read the books as they were before the holder committed.
BOOK = sa.select(
    _records(paper_positions, paper_positions.c.account == sa.bindparam("b_account")).label("positions"),
    _records(paper_orders, paper_orders.c.account == sa.bindparam("b_account"),
             sa.or_(paper_orders.c.status.in_(OPEN_STATUSES),
                    paper_orders.c.client_order_id == sa.any_(sa.bindparam("b_coids", type_=ARRAY(sa.Text))))
             ).label("orders"),
    _records(paper_quotes, paper_quotes.c.symbol == sa.any_(sa.bindparam("b_symbols", type_=ARRAY(sa.Text))))
    .label("quotes"))


def held_rows(book: Any) -> tuple[list[paper.PaperPosition], list[paper.PaperOrder], dict[str, paper.Quote | None]]:
    """``BOOK``'s row as the domain's positions, orders and quotes by symbol."""
    def rows(table: sa.Table, records: list[tuple[Any, ...]] | None) -> list[dict[str, Any]]:
        return [dict(zip(table.c.keys(), record, strict=True)) for record in records or ()]
    return ([paper.PaperPosition(p["symbol"], p["qty"], p["avg_entry_price"])
             for p in rows(paper_positions, book.positions)],
            [order_from(o) for o in rows(paper_orders, book.orders)],
            {q["symbol"]: paper.Quote(q["symbol"], q["price"], q["event_ts"], q["seq"])
             for q in rows(paper_quotes, book.quotes)})


#: The latest price's event time and the latest change to an open order of the account (NULL: none).
VENUE_TIME = sa.select(sa.func.greatest(
    sa.select(sa.func.max(paper_quotes.c.event_ts)).scalar_subquery(),
    sa.select(sa.func.max(paper_orders.c.updated_at)).where(
        paper_orders.c.account == sa.bindparam("b_account"), paper_orders.c.status.in_(OPEN_STATUSES),
    ).scalar_subquery()))


def _arrays_of(table: sa.Table, columns: Sequence[str]) -> list[sa.BindParameter[Any]]:
    """One array parameter per column, ``<table>_<column>``, typed as the column."""
    return [sa.bindparam(f"{table.name}_{c}", type_=ARRAY(table.c[c].type)) for c in columns]


def _insert_unnested(table: sa.Table, columns: Sequence[str], conflict: Sequence[str] = (),
                     update: Sequence[str] = ()) -> str:
    """INSERT of the account's rows, one per position in the arrays ``_arrays_of(table, columns)``,
    in array order (a fill's ``id`` follows it); ON CONFLICT on ``conflict`` it updates ``update``."""
    names = ", ".join(columns)
    arrays = ", ".join(f":{table.name}_{c}" for c in columns)
    upsert = (f" ON CONFLICT (account, {', '.join(conflict)}) DO UPDATE SET "
              + ", ".join(f"{c} = excluded.{c}" for c in update)) if conflict else ""
    return (f"INSERT INTO {table.name} (account, {names}) SELECT :account, {names} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS u ({names}, n) ORDER BY n{upsert}")


POSITION_WRITTEN = ("symbol", "qty", "avg_entry_price")
ORDER_WRITTEN = ("client_order_id", "venue_order_id", "symbol", "side", "qty", "order_type", "limit_price",
                 "time_in_force", "status", "filled_qty", "filled_avg_price", "submitted_at", "updated_at",
                 "reserve_price", "not_before", "seq")
FILL_WRITTEN = ("client_order_id", "symbol", "side", "qty", "price", "realized_pl", "at")

#: Everything one venue operation changed, in one statement: the account row, the positions closed
#: and moved, the orders touched (inserted or updated) and the fills. The parts touch different rows
#: (a closed position is not a moved one, each order once), which a data-modifying WITH requires.
PERSIST = sa.text(f"""
WITH account_row AS (
    UPDATE paper_accounts
    SET cash = :cash, realized_pl = :realized_pl, updated_at = :updated_at, last_fill_at = :last_fill_at
    WHERE account = :account
), closed AS (
    DELETE FROM paper_positions WHERE account = :account AND symbol = ANY(:closed)
), moved AS (
    {_insert_unnested(paper_positions, POSITION_WRITTEN, ("symbol",), ("qty", "avg_entry_price"))}
), orders AS (
    {_insert_unnested(paper_orders, ORDER_WRITTEN, ("client_order_id",),
                      ("status", "filled_qty", "filled_avg_price", "updated_at", "seq"))}
), fills AS (
    {_insert_unnested(paper_fills, FILL_WRITTEN)}
)
SELECT 1
""").bindparams(
    sa.bindparam("account", type_=sa.Text), sa.bindparam("cash", type_=paper_accounts.c.cash.type),
    sa.bindparam("realized_pl", type_=paper_accounts.c.realized_pl.type),
    sa.bindparam("updated_at", type_=paper_accounts.c.updated_at.type),
    sa.bindparam("last_fill_at", type_=paper_accounts.c.last_fill_at.type),
    sa.bindparam("closed", type_=ARRAY(sa.Text)), *_arrays_of(paper_positions, POSITION_WRITTEN),
    *_arrays_of(paper_orders, ORDER_WRITTEN), *_arrays_of(paper_fills, FILL_WRITTEN))


def persist_values(account: str, before: paper.PaperAccount, step: paper.PaperStep,
                   updated_at: datetime) -> dict[str, Any]:
    """``PERSIST``'s parameters for what ``step`` changed against ``before`` (the account as locked)."""
    after = step.account
    values: dict[str, Any] = {
        "account": account, "cash": after.cash, "realized_pl": after.realized_pl, "updated_at": updated_at,
        "last_fill_at": after.last_fill_at,
        "closed": [symbol for symbol in before.positions if symbol not in after.positions]}
    moved = [p for symbol, p in after.positions.items() if before.positions.get(symbol) != p]
    written = ((paper_positions, POSITION_WRITTEN, moved), (paper_orders, ORDER_WRITTEN, step.orders),
               (paper_fills, FILL_WRITTEN, step.fills))
    for table, columns, items in written:
        values.update({f"{table.name}_{c}": [_plain(getattr(item, c)) for item in items] for c in columns})
    return values


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def upsert_newer(quotes: list[paper.Quote]) -> Any:
    """Insert or update each symbol's price, but only where it is newer (event time, then seq) than the stored one."""
    values = pg_insert(paper_quotes).values([
        {"symbol": q.symbol, "price": q.price, "event_ts": q.event_ts, "seq": q.seq} for q in quotes])
    return values.on_conflict_do_update(
        index_elements=["symbol"],
        set_={"price": values.excluded.price, "event_ts": values.excluded.event_ts, "seq": values.excluded.seq},
        where=sa.tuple_(paper_quotes.c.event_ts, paper_quotes.c.seq)
        < sa.tuple_(values.excluded.event_ts, values.excluded.seq),
    )


#: Store the prices of symbols without an open order, select the symbols with one: one statement,
#: prepared once whatever the batch's size (the prices come as arrays). Postgres runs a
#: data-modifying WITH whether or not the query reads it.
STORE_UNLESS_OPEN = sa.text("""
WITH open_symbols AS (
    SELECT DISTINCT symbol FROM paper_orders
    WHERE account = :account AND status = ANY(:open_statuses) AND symbol = ANY(:symbols)
), stored AS (
    INSERT INTO paper_quotes (symbol, price, event_ts, seq)
    SELECT q.symbol, q.price, q.event_ts, q.seq
    FROM unnest(:symbols, :prices, :event_ts, :seqs) AS q (symbol, price, event_ts, seq)
    WHERE NOT EXISTS (SELECT 1 FROM open_symbols o WHERE o.symbol = q.symbol)
    ON CONFLICT (symbol) DO UPDATE
    SET price = excluded.price, event_ts = excluded.event_ts, seq = excluded.seq
    WHERE (paper_quotes.event_ts, paper_quotes.seq) < (excluded.event_ts, excluded.seq)
)
SELECT symbol FROM open_symbols
""").bindparams(
    sa.bindparam("account", type_=sa.Text), sa.bindparam("open_statuses", type_=ARRAY(sa.Text)),
    sa.bindparam("symbols", type_=ARRAY(sa.Text)), sa.bindparam("prices", type_=ARRAY(sa.Numeric)),
    sa.bindparam("event_ts", type_=ARRAY(paper_quotes.c.event_ts.type)),
    sa.bindparam("seqs", type_=ARRAY(sa.BigInteger)),
).columns(symbol=sa.Text)
