"""The paper venue's books in Postgres: its statements and rows.

The hot statements are built once and executed with parameter dicts: no per-call statement
construction or cache-key walk.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce

from ....domain import paper
from ...tables import paper_accounts, paper_orders, paper_positions, paper_quotes

OPEN_STATUSES = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def paper_order_id(account: str, client_order_id: str) -> str:
    return "paper-" + hashlib.sha256(f"{account}|{client_order_id}".encode()).hexdigest()[:24]


def order_of(row: Any) -> paper.PaperOrder:
    m = row._mapping
    return paper.PaperOrder(
        client_order_id=m["client_order_id"], venue_order_id=m["venue_order_id"], symbol=m["symbol"],
        side=Side(m["side"]), qty=m["qty"], order_type=OrderType(m["order_type"]), limit_price=m["limit_price"],
        time_in_force=TimeInForce(m["time_in_force"]), status=OrderStatus(m["status"]),
        submitted_at=m["submitted_at"], updated_at=m["updated_at"], reserve_price=m["reserve_price"],
        not_before=m["not_before"], filled_qty=m["filled_qty"], filled_avg_price=m["filled_avg_price"], seq=m["seq"])


def _upsert_order() -> Any:
    statement = pg_insert(paper_orders)
    return statement.on_conflict_do_update(
        index_elements=["account", "client_order_id"],
        set_={k: statement.excluded[k] for k in ("status", "filled_qty", "filled_avg_price", "updated_at", "seq")})


def _upsert_position() -> Any:
    statement = pg_insert(paper_positions)
    return statement.on_conflict_do_update(
        index_elements=["account", "symbol"],
        set_={"qty": statement.excluded.qty, "avg_entry_price": statement.excluded.avg_entry_price})


UPSERT_ORDER = _upsert_order()
UPSERT_POSITION = _upsert_position()
LOCK_ACCOUNT = sa.select(paper_accounts).where(paper_accounts.c.account == sa.bindparam("b_account")).with_for_update()
HOLD_ACCOUNT = sa.select(paper_accounts.c.account).where(
    paper_accounts.c.account == sa.bindparam("b_account")).with_for_update()
UPDATE_ACCOUNT = paper_accounts.update().where(paper_accounts.c.account == sa.bindparam("b_account"))
POSITIONS = sa.select(paper_positions).where(paper_positions.c.account == sa.bindparam("b_account"))
OPEN_ORDERS_AND = sa.select(paper_orders).where(
    paper_orders.c.account == sa.bindparam("b_account"),
    sa.or_(paper_orders.c.status.in_(OPEN_STATUSES),
          paper_orders.c.client_order_id.in_(sa.bindparam("b_coids", expanding=True))))
NAMED_ORDER = sa.select(paper_orders).where(paper_orders.c.account == sa.bindparam("b_account"),
                                            paper_orders.c.client_order_id == sa.bindparam("b_coid"))
QUOTES = sa.select(paper_quotes).where(paper_quotes.c.symbol.in_(sa.bindparam("b_symbols", expanding=True)))
#: The latest price's event time and the latest change to an open order of the account (NULL: none).
VENUE_TIME = sa.select(sa.func.greatest(
    sa.select(sa.func.max(paper_quotes.c.event_ts)).scalar_subquery(),
    sa.select(sa.func.max(paper_orders.c.updated_at)).where(
        paper_orders.c.account == sa.bindparam("b_account"), paper_orders.c.status.in_(OPEN_STATUSES),
    ).scalar_subquery()))


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
