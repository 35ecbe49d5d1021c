"""Postgres: the account rows (locked per handler), verdicts by decision, dedupe, control, marks.

Every function takes the handler's connection, so its writes commit in the same transaction as
the runtime's processed-message record: a crash anywhere leaves either all of a message's
effects or none. ``lock_account`` takes ``SELECT ... FOR UPDATE`` on the account row, so the
decision, trade-update and snapshot subscribers (separate consumers, separate transactions)
never interleave on one account's exposure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import Side
from torghut_contracts.models import GLOBAL_SCOPE, ApprovedOrder, ControlCommand, RiskVerdict, TradeUpdate

from ..domain.control import effective_control, supersedes
from ..domain.state import ControlState, Latch, Mark, MarketState, OpenOrder, PortfolioState


# -- portfolio state <-> JSON ----------------------------------------------------------------------
def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parse_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def portfolio_to_json(p: PortfolioState) -> dict[str, Any]:
    return {
        "equity": _dec(p.equity),
        "buying_power": _dec(p.buying_power),
        "day_start_equity": _dec(p.day_start_equity),
        "peak_equity": _dec(p.peak_equity),
        "snapshot_as_of": _dt(p.snapshot_as_of),
        "positions": {s: str(q) for s, q in sorted(p.positions.items())},
        "position_marks": {s: str(q) for s, q in sorted(p.position_marks.items())},
        "open_orders": [
            {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
             "remaining_qty": str(o.remaining_qty), "price": str(o.price), "adds_exposure": o.adds_exposure}
            for o in p.open_orders
        ],
        "latches": [{"reason": x.reason, "detail": x.detail, "latched_at": _dt(x.latched_at)} for x in p.latches],
        "recent_approvals": [_dt(t) for t in p.recent_approvals],
        "last_approval_by_symbol": {s: _dt(t) for s, t in sorted(p.last_approval_by_symbol.items())},
        "filled_by_order": {c: str(q) for c, q in sorted(p.filled_by_order.items())},
        "trading_day": p.trading_day.isoformat() if p.trading_day else None,
        "flatten_day": p.flatten_day.isoformat() if p.flatten_day else None,
        "flattened_symbols": list(p.flattened_symbols),
        "must_be_flat_checked": p.must_be_flat_checked.isoformat() if p.must_be_flat_checked else None,
    }


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def portfolio_from_json(account: str, raw: dict[str, Any]) -> PortfolioState:
    return PortfolioState(
        account=account,
        equity=_parse_dec(raw.get("equity")),
        buying_power=_parse_dec(raw.get("buying_power")),
        day_start_equity=_parse_dec(raw.get("day_start_equity")),
        peak_equity=_parse_dec(raw.get("peak_equity")),
        snapshot_as_of=_parse_dt(raw.get("snapshot_as_of")),
        positions={s: Decimal(q) for s, q in raw.get("positions", {}).items()},
        position_marks={s: Decimal(q) for s, q in raw.get("position_marks", {}).items()},
        open_orders=tuple(
            OpenOrder(o["client_order_id"], o["symbol"], Side(o["side"]), Decimal(o["remaining_qty"]),
                      Decimal(o["price"]), bool(o["adds_exposure"]))
            for o in raw.get("open_orders", [])
        ),
        latches=tuple(Latch(x["reason"], x["detail"], datetime.fromisoformat(x["latched_at"]))
                      for x in raw.get("latches", [])),
        recent_approvals=tuple(datetime.fromisoformat(t) for t in raw.get("recent_approvals", [])),
        last_approval_by_symbol={s: datetime.fromisoformat(t)
                                 for s, t in raw.get("last_approval_by_symbol", {}).items()},
        filled_by_order={c: Decimal(q) for c, q in raw.get("filled_by_order", {}).items()},
        trading_day=_day(raw.get("trading_day")),
        flatten_day=_day(raw.get("flatten_day")),
        flattened_symbols=tuple(raw.get("flattened_symbols", [])),
        must_be_flat_checked=_day(raw.get("must_be_flat_checked")),
    )


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# -- accounts --------------------------------------------------------------------------------------
async def lock_account(conn: AsyncConnection, account: str) -> PortfolioState:
    """Lock the account's row for this transaction (``SELECT ... FOR UPDATE``) and return its state.

    The row is created the first time an account is seen; every later call is one round trip.
    """
    select = sa.text("SELECT state::text FROM accounts WHERE account = :a FOR UPDATE")
    row = (await conn.execute(select, {"a": account})).first()
    if row is None:
        await conn.execute(sa.text("INSERT INTO accounts (account) VALUES (:a) ON CONFLICT (account) DO NOTHING"),
                           {"a": account})
        row = (await conn.execute(select, {"a": account})).one()
    return portfolio_from_json(account, json.loads(row[0]))


async def read_account(conn: AsyncConnection, account: str) -> PortfolioState | None:
    row = (await conn.execute(sa.text("SELECT state::text FROM accounts WHERE account = :a"), {"a": account})).first()
    return None if row is None else portfolio_from_json(account, json.loads(row[0]))


async def save_account(conn: AsyncConnection, portfolio: PortfolioState) -> None:
    await conn.execute(
        sa.text("UPDATE accounts SET state = CAST(:s AS jsonb), version = version + 1, updated_at = now() "
                "WHERE account = :a"),
        {"a": portfolio.account, "s": json.dumps(portfolio_to_json(portfolio))},
    )


async def record_latch_event(conn: AsyncConnection, account: str, action: str, latch: Latch,
                             operator: str | None = None, at: datetime | None = None) -> None:
    await conn.execute(
        sa.text("INSERT INTO latch_events (account, action, reason, detail, operator, at) "
                "VALUES (:a, :action, :reason, :detail, :op, :at)"),
        {"a": account, "action": action, "reason": latch.reason, "detail": latch.detail, "op": operator,
         "at": at or latch.latched_at},
    )


# -- verdicts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredVerdict:
    verdict: RiskVerdict
    approved_order: ApprovedOrder | None


async def stored_verdict(conn: AsyncConnection, account: str, decision_id: str) -> StoredVerdict | None:
    row = (await conn.execute(
        sa.text("SELECT verdict::text, approved_order::text FROM verdicts WHERE account = :a AND decision_id = :d"),
        {"a": account, "d": decision_id})).first()
    if row is None:
        return None
    order = None if row[1] is None else ApprovedOrder.model_validate_json(row[1])
    return StoredVerdict(RiskVerdict.model_validate_json(row[0]), order)


async def store_verdict(conn: AsyncConnection, verdict: RiskVerdict, order: ApprovedOrder | None) -> None:
    await conn.execute(
        sa.text("INSERT INTO verdicts (account, decision_id, outcome, client_order_id, symbol, reason_codes, verdict, "
                "approved_order, decided_at) VALUES (:a, :d, :o, :c, :s, CAST(:r AS jsonb), CAST(:v AS jsonb), "
                "CAST(:ao AS jsonb), :t)"),
        {"a": verdict.account, "d": verdict.decision_id, "o": verdict.outcome.value,
         "c": order.client_order_id if order is not None else None, "s": verdict.symbol,
         "r": json.dumps(verdict.reason_codes), "v": verdict.model_dump_json(),
         "ao": order.model_dump_json() if order is not None else None, "t": verdict.decided_at},
    )


# -- trade updates ---------------------------------------------------------------------------------
async def remember_trade_update(conn: AsyncConnection, update: TradeUpdate) -> bool:
    """True the first time this fingerprint is seen; False for a duplicate (apply nothing)."""
    result = await conn.execute(
        sa.text("INSERT INTO trade_updates_applied (fingerprint, account, client_order_id, event, event_ts) "
                "VALUES (:f, :a, :c, :e, :t) ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint"),
        {"f": update.fingerprint, "a": update.account, "c": update.order.client_order_id,
         "e": update.event.value, "t": update.timestamp},
    )
    return result.first() is not None


# -- control ---------------------------------------------------------------------------------------
async def save_control(conn: AsyncConnection, command: ControlCommand) -> bool:
    """Keep the newest command per scope; an older one (compacted replay) changes nothing."""
    current = await _control(conn, command.scope)
    if not supersedes(command, current):
        return False
    await conn.execute(
        sa.text("INSERT INTO control_commands (scope, command_id, command, issued_at) "
                "VALUES (:s, :i, CAST(:c AS jsonb), :t) ON CONFLICT (scope) DO UPDATE SET "
                "command_id = EXCLUDED.command_id, command = EXCLUDED.command, issued_at = EXCLUDED.issued_at"),
        {"s": command.scope, "i": command.command_id, "c": command.model_dump_json(), "t": command.issued_at},
    )
    return True


async def _control(conn: AsyncConnection, scope: str) -> ControlCommand | None:
    row = (await conn.execute(sa.text("SELECT command::text FROM control_commands WHERE scope = :s"),
                              {"s": scope})).first()
    return None if row is None else ControlCommand.model_validate_json(row[0])


async def control_for(conn: AsyncConnection, account: str) -> tuple[ControlCommand | None, ControlCommand | None]:
    """The global and the account command, in one query."""
    rows = await conn.execute(sa.text("SELECT scope, command::text FROM control_commands WHERE scope = ANY(:s)"),
                              {"s": [GLOBAL_SCOPE, account]})
    found = {row[0]: ControlCommand.model_validate_json(row[1]) for row in rows}
    return found.get(GLOBAL_SCOPE), found.get(account) if account != GLOBAL_SCOPE else None


async def effective_control_for(conn: AsyncConnection, account: str) -> ControlState:
    global_command, account_command = await control_for(conn, account)
    return effective_control(global_command, account_command)


# -- market marks ----------------------------------------------------------------------------------
async def upsert_mark(conn: AsyncConnection, symbol: str, price: Decimal, volume: Decimal | None,
                      event_ts: datetime, seq: int) -> None:
    """Keep the newest signal per symbol (by event time, then sequence); late signals change nothing."""
    await conn.execute(
        sa.text("INSERT INTO market_marks (symbol, price, volume, event_ts, seq) VALUES (:s, :p, :v, :t, :q) "
                "ON CONFLICT (symbol) DO UPDATE SET price = EXCLUDED.price, volume = EXCLUDED.volume, "
                "event_ts = EXCLUDED.event_ts, seq = EXCLUDED.seq "
                "WHERE (market_marks.event_ts, market_marks.seq) < (EXCLUDED.event_ts, EXCLUDED.seq)"),
        {"s": symbol, "p": price, "v": volume, "t": event_ts, "q": seq},
    )


async def market_for(conn: AsyncConnection, symbols: Iterable[str]) -> MarketState:
    wanted = sorted(set(symbols))
    if not wanted:
        return MarketState({})
    rows = await conn.execute(
        sa.text("SELECT symbol, price, volume, event_ts FROM market_marks WHERE symbol = ANY(:s)"), {"s": wanted})
    return MarketState({row[0]: Mark(Decimal(row[1]), row[3], None if row[2] is None else Decimal(row[2]))
                        for row in rows})


def symbols_of_interest(portfolio: PortfolioState, *extra: str) -> set[str]:
    return set(portfolio.positions) | {o.symbol for o in portfolio.open_orders} | set(extra)
