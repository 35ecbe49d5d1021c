"""Postgres: the account rows (locked per handler), verdicts by decision, dedupe, control, marks.

Every function takes the handler's connection, so its writes commit in the same transaction as
the runtime's processed-message record: a crash anywhere leaves either all of a message's
effects or none. ``lock_account`` takes ``SELECT ... FOR UPDATE`` on the account row, so the
decision, trade-update and snapshot subscribers (separate consumers, separate transactions)
never interleave on one account's exposure.

The tables are the classes of :mod:`.tables` (their one definition; a test diffs them against the
migrated schema). The statements are built once, as text with named binds: each is one round trip
that Postgres-specific SQL makes possible (row locks, CTEs that lock and write together, jsonb
casts), and a statement built per call cost more than its round trip (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand, TradeUpdate
from torghut_contracts.posture import TradingPosture, effective_posture, supersedes

from ..domain.state import Latch, Mark, MarketState, PortfolioState
from .portfolio_json import portfolio_from_json, state_json

_SELECT_FOR_UPDATE = sa.text("SELECT state::text FROM accounts WHERE account = :account FOR UPDATE")
_CREATE_ACCOUNT = sa.text("INSERT INTO accounts (account) VALUES (:account) ON CONFLICT (account) DO NOTHING")
_READ_ACCOUNT = sa.text("SELECT state::text FROM accounts WHERE account = :account")
_SAVE_ACCOUNT = sa.text("UPDATE accounts SET state = CAST(:state AS jsonb), version = version + 1, updated_at = now() "
                        "WHERE account = :account")


async def lock_account(conn: AsyncConnection, account: str) -> PortfolioState:
    """Lock the account's row for this transaction (``SELECT ... FOR UPDATE``) and return its state.

    The row is created the first time an account is seen; every later call is one round trip.
    """
    row = (await conn.execute(_SELECT_FOR_UPDATE, {"account": account})).first()
    if row is None:
        await create_account(conn, account)
        row = (await conn.execute(_SELECT_FOR_UPDATE, {"account": account})).one()
    return portfolio_from_json(account, json.loads(row[0]))


async def create_account(conn: AsyncConnection, account: str) -> None:
    await conn.execute(_CREATE_ACCOUNT, {"account": account})


#: Rows locked in account order: Postgres locks rows as the sort hands them up, so two transactions
#: that lock overlapping sets this way wait for each other instead of each holding what the other wants.
_LOCK_IN_ORDER = sa.text("SELECT account FROM accounts WHERE account = ANY(CAST(:accounts AS TEXT[])) "
                         "ORDER BY account FOR UPDATE")
_CREATE_ACCOUNTS = sa.text("INSERT INTO accounts (account) SELECT a FROM unnest(CAST(:accounts AS TEXT[])) AS a "
                           "ORDER BY a ON CONFLICT (account) DO NOTHING")


async def lock_accounts_in_order(conn: AsyncConnection, accounts: Iterable[str]) -> None:
    """Lock several accounts' rows for this transaction, in account order, before any of them is worked on.

    A group commit's records may belong to several accounts, in any order, and the decision, trade
    update and snapshot subscribers each commit groups of their own. Locking one account at a time as
    its first record comes would let two groups lock A then B and B then A, a deadlock; every group
    that holds several accounts takes them here first, in one order, instead. One round trip once the
    rows exist. A group of one account needs no order and does not call this.
    """
    wanted = sorted(set(accounts))
    locked = (await conn.execute(_LOCK_IN_ORDER, {"accounts": wanted})).scalars().all()
    if len(locked) < len(wanted):  # an account's first message: create the missing rows, lock again
        await conn.execute(_CREATE_ACCOUNTS, {"accounts": wanted})
        await conn.execute(_LOCK_IN_ORDER, {"accounts": wanted})


async def read_account(conn: AsyncConnection, account: str) -> PortfolioState | None:
    row = (await conn.execute(_READ_ACCOUNT, {"account": account})).first()
    return None if row is None else portfolio_from_json(account, json.loads(row[0]))


async def save_account(conn: AsyncConnection, portfolio: PortfolioState) -> None:
    await conn.execute(_SAVE_ACCOUNT, {"account": portfolio.account, "state": state_json(portfolio)})


async def save_accounts(conn: AsyncConnection, portfolios: Sequence[PortfolioState]) -> None:
    """One round trip for any number of accounts (an executemany for several)."""
    if len(portfolios) == 1:
        await save_account(conn, portfolios[0])
    elif portfolios:
        await conn.execute(_SAVE_ACCOUNT, [{"account": p.account, "state": state_json(p)} for p in portfolios])


async def record_latch_event(conn: AsyncConnection, account: str, action: str, latch: Latch,
                             operator: str | None = None, at: datetime | None = None) -> None:
    await conn.execute(
        sa.text("INSERT INTO latch_events (account, action, reason, detail, operator, at) "
                "VALUES (:account, :action, :reason, :detail, :operator, :at)"),
        {"account": account, "action": action, "reason": latch.reason, "detail": latch.detail, "operator": operator,
         "at": at or latch.latched_at},
    )


# -- trade updates ---------------------------------------------------------------------------------
#: Lock the account, then remember the update's fingerprint, in one round trip. The insert reads the
#: locked row (its count), so the row lock is taken first, as by the separate statements: two
#: copies of one update both wait on the account before either waits on the other's fingerprint.
_LOCK_AND_REMEMBER = sa.text("""
WITH locked AS (SELECT state::text AS state FROM accounts WHERE account = :account FOR UPDATE),
applied AS (
    INSERT INTO trade_updates_applied (fingerprint, account, client_order_id, event, event_ts)
    SELECT CAST(:fingerprint AS text), CAST(:account AS text), CAST(:client_order_id AS text),
           CAST(:event AS text), CAST(:event_ts AS timestamptz)
    WHERE (SELECT count(*) FROM locked) >= 0
    ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint)
SELECT (SELECT state FROM locked) AS state, EXISTS (SELECT FROM applied) AS fresh
""")


def _trade_update_parameters(update: TradeUpdate) -> dict[str, Any]:
    return {"fingerprint": update.fingerprint, "account": update.account,
            "client_order_id": update.order.client_order_id, "event": update.event.value,
            "event_ts": update.timestamp}


async def lock_and_remember_trade_update(conn: AsyncConnection, update: TradeUpdate) -> tuple[PortfolioState, bool]:
    """Lock the account and remember the update's fingerprint: (the account, True the first time it is seen).

    One round trip when the account exists. A duplicate (venue resend, replay) gets False and must
    apply nothing; one racing this update waits on the fingerprint until it commits, then counts as seen.
    """
    row = (await conn.execute(_LOCK_AND_REMEMBER, _trade_update_parameters(update))).one()
    if row.state is None:  # the account's first message: create its row, then lock it
        return await lock_account(conn, update.account), bool(row.fresh)
    return portfolio_from_json(update.account, json.loads(row.state)), bool(row.fresh)


# -- control ---------------------------------------------------------------------------------------
async def save_control(conn: AsyncConnection, command: ControlCommand) -> bool:
    """Keep the newest command per scope; an older one (compacted replay) changes nothing."""
    current = await _control(conn, command.scope)
    if not supersedes(command, current):
        return False
    await conn.execute(
        sa.text("INSERT INTO control_commands (scope, command_id, command, issued_at) "
                "VALUES (:scope, :command_id, CAST(:command AS jsonb), :issued_at) ON CONFLICT (scope) DO UPDATE SET "
                "command_id = EXCLUDED.command_id, command = EXCLUDED.command, issued_at = EXCLUDED.issued_at"),
        {"scope": command.scope, "command_id": command.command_id, "command": command.model_dump_json(),
         "issued_at": command.issued_at},
    )
    return True


async def _control(conn: AsyncConnection, scope: str) -> ControlCommand | None:
    row = (await conn.execute(sa.text("SELECT command::text FROM control_commands WHERE scope = :scope"),
                              {"scope": scope})).first()
    return None if row is None else ControlCommand.model_validate_json(row[0])


_CONTROLS = sa.text("SELECT scope, command::text FROM control_commands WHERE scope = ANY(:scopes)")


async def control_for(conn: AsyncConnection, account: str) -> tuple[ControlCommand | None, ControlCommand | None]:
    """The global and the account command, in one query."""
    rows = await conn.execute(_CONTROLS, {"scopes": [GLOBAL_SCOPE, account]})
    found = {row[0]: ControlCommand.model_validate_json(row[1]) for row in rows}
    return found.get(GLOBAL_SCOPE), found.get(account) if account != GLOBAL_SCOPE else None


async def effective_control_for(conn: AsyncConnection, account: str) -> TradingPosture:
    global_command, account_command = await control_for(conn, account)
    return effective_posture(global_command, account_command)


# -- market marks ----------------------------------------------------------------------------------
_UPSERT_MARK = sa.text(
    "INSERT INTO market_marks (symbol, price, volume, event_ts, seq) "
    "VALUES (:symbol, :price, :volume, :event_ts, :seq) "
    "ON CONFLICT (symbol) DO UPDATE SET price = EXCLUDED.price, volume = EXCLUDED.volume, "
    "event_ts = EXCLUDED.event_ts, seq = EXCLUDED.seq "
    "WHERE (market_marks.event_ts, market_marks.seq) < (EXCLUDED.event_ts, EXCLUDED.seq)")
_MARKS = sa.text("SELECT symbol, price, volume, event_ts FROM market_marks WHERE symbol = ANY(:symbols)")


class MarkRow(NamedTuple):
    symbol: str
    price: Decimal
    volume: Decimal | None
    event_ts: datetime
    seq: int


async def upsert_marks(conn: AsyncConnection, marks: Sequence[MarkRow]) -> None:
    """Keep the newest signal per symbol (by event time, then sequence); late signals change nothing.
    One round trip for all of them (asyncpg sends an executemany's rows together)."""
    if marks:
        await conn.execute(_UPSERT_MARK, [{"symbol": m.symbol, "price": m.price, "volume": m.volume,
                                           "event_ts": m.event_ts, "seq": m.seq} for m in marks])


async def market_for(conn: AsyncConnection, symbols: Iterable[str]) -> MarketState:
    wanted = sorted(set(symbols))
    if not wanted:
        return MarketState({})
    rows = await conn.execute(_MARKS, {"symbols": wanted})
    return MarketState({row[0]: Mark(Decimal(row[1]), row[3], None if row[2] is None else Decimal(row[2]))
                        for row in rows})


def symbols_of_interest(portfolio: PortfolioState, *extra: str) -> set[str]:
    return set(portfolio.positions) | {o.symbol for o in portfolio.open_orders} | set(extra)
