"""Postgres: verdicts by decision, and everything a decision is judged on, read in one round trip.

A group of decisions (the runtime's group commit) is judged against one locked account: the first
decision of the group locks the account and reads its state (:func:`lock_for_decision`); the
others read only what can have changed meanwhile, the stored verdict, the control commands and
the marks (:func:`context_for_decision`), and the group's account and verdicts are written once,
at its end (:func:`save_accounts_and_store_verdicts`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import GLOBAL_SCOPE, ApprovedOrder, ControlCommand, RiskVerdict
from torghut_contracts.posture import TradingPosture, posture_for

from ..domain.state import Mark, MarketState, PortfolioState
from .portfolio_json import portfolio_from_json, state_json
from .store import create_account, market_for, save_accounts, symbols_of_interest


@dataclass(frozen=True)
class StoredVerdict:
    verdict: RiskVerdict
    approved_order: ApprovedOrder | None


_STORED_VERDICT = sa.text(
    "SELECT verdict::text, approved_order::text FROM verdicts "
    "WHERE account = :account AND decision_id = :decision_id")
#: A verdict already stored for the decision (judged meanwhile by another consumer) is a unique
#: violation: the transaction rolls back, nothing is reserved twice, and the retry republishes it.
_INSERT_VERDICT = (
    "INSERT INTO verdicts (account, decision_id, outcome, client_order_id, symbol, reason_codes, verdict, "
    "approved_order, decided_at) VALUES (:verdict_account, :decision_id, :outcome, :client_order_id, :symbol, "
    "CAST(:reason_codes AS jsonb), CAST(:verdict AS jsonb), CAST(:approved_order AS jsonb), :decided_at)")
_STORE_VERDICT = sa.text(_INSERT_VERDICT)


async def stored_verdict(conn: AsyncConnection, account: str, decision_id: str) -> StoredVerdict | None:
    row = (await conn.execute(_STORED_VERDICT, {"account": account, "decision_id": decision_id})).first()
    return None if row is None else _stored(row[0], row[1])


def _stored(verdict: str, order: str | None) -> StoredVerdict:
    return StoredVerdict(RiskVerdict.model_validate_json(verdict),
                         None if order is None else ApprovedOrder.model_validate_json(order))


def _verdict_parameters(verdict: RiskVerdict, order: ApprovedOrder | None) -> dict[str, Any]:
    return {"verdict_account": verdict.account, "decision_id": verdict.decision_id,
            "outcome": verdict.outcome.value, "symbol": verdict.symbol,
            "client_order_id": order.client_order_id if order is not None else None,
            "reason_codes": json.dumps(verdict.reason_codes), "verdict": verdict.model_dump_json(),
            "approved_order": order.model_dump_json() if order is not None else None,
            "decided_at": verdict.decided_at}


async def store_verdict(conn: AsyncConnection, verdict: RiskVerdict, order: ApprovedOrder | None) -> None:
    await conn.execute(_STORE_VERDICT, _verdict_parameters(verdict, order))


#: A lone decision's two writes in one round trip: the account (its reservation) and the verdict.
_SAVE_ACCOUNT_AND_STORE_VERDICT = sa.text(
    "WITH saved AS (UPDATE accounts SET state = CAST(:state AS jsonb), version = version + 1, updated_at = now() "
    "WHERE account = :account RETURNING account) " + _INSERT_VERDICT)


async def save_accounts_and_store_verdicts(conn: AsyncConnection, portfolios: Sequence[PortfolioState],
                                           verdicts: Sequence[StoredVerdict]) -> None:
    """The accounts as the group left them, and the group's verdicts: one round trip for one verdict, two
    for a group, whatever its accounts (asyncpg sends an executemany's rows together)."""
    if len(verdicts) == 1 and len(portfolios) == 1:
        (only,), (portfolio,) = verdicts, portfolios
        await conn.execute(_SAVE_ACCOUNT_AND_STORE_VERDICT, {
            **_verdict_parameters(only.verdict, only.approved_order), "account": portfolio.account,
            "state": state_json(portfolio)})
        return
    await save_accounts(conn, portfolios)
    await conn.execute(_STORE_VERDICT, [_verdict_parameters(v.verdict, v.approved_order) for v in verdicts])


# -- decisions: everything a verdict is judged on, in one round trip -------------------------------
_CONTEXT = """
       (SELECT v.verdict::text FROM verdicts v WHERE v.account = {account} AND v.decision_id = :decision_id) AS verdict,
       (SELECT v.approved_order::text FROM verdicts v
         WHERE v.account = {account} AND v.decision_id = :decision_id) AS approved_order,
       (SELECT json_agg(json_build_array(c.scope, c.command::text))::text FROM control_commands c
         WHERE c.scope IN (:global, {account})) AS controls,
       (SELECT json_agg(json_build_array(m.symbol, m.price::text, m.volume::text, m.event_ts))::text
          FROM market_marks m WHERE {marks}) AS marks"""
#: The account row, locked, with what the decision needs beside it: the verdict already stored for
#: the decision, the global and account commands, and the marks of the decision's symbol and of the
#: symbols the account holds or has open orders in.
#:
#: The sub-selects read the statement's snapshot, taken before the lock may have had to wait; the
#: account row itself is the latest (``FOR UPDATE`` re-reads it). So a verdict stored meanwhile by
#: another consumer can be missed here: storing a second one then fails on the primary key and the
#: transaction is retried (see ``_STORE_VERDICT``). A control command or mark committed during the
#: wait is simply seen as not yet there, as if the decision had come first.
_LOCK_FOR_DECISION = sa.text("SELECT a.state::text AS state," + _CONTEXT.format(account="a.account", marks="""
             m.symbol = :symbol
            OR m.symbol IN (SELECT jsonb_object_keys(a.state -> 'positions'))
            OR m.symbol IN (SELECT o ->> 'symbol' FROM jsonb_array_elements(a.state -> 'open_orders') AS o)""")
    + "\nFROM accounts AS a WHERE a.account = :account FOR UPDATE OF a")
#: The same for a later decision of a group, whose account this transaction holds locked already.
_CONTEXT_FOR_DECISION = sa.text("SELECT" + _CONTEXT.format(account=":account",
                                                            marks="m.symbol = ANY(CAST(:symbols AS TEXT[]))"))


@dataclass(frozen=True)
class DecisionContext:
    portfolio: PortfolioState
    previous: StoredVerdict | None
    """The verdict already stored for this decision, if any: republish it, judge nothing."""
    control: TradingPosture
    market: MarketState


async def lock_for_decision(conn: AsyncConnection, account: str, decision_id: str, symbol: str) -> DecisionContext:
    """Lock the account and read what a decision on ``symbol`` is judged on: one round trip, usually.

    The marks cover every symbol of interest of the locked state (a mark the read could not know
    to fetch is fetched after), so the exposure is never judged on fewer marks than it needs.
    """
    parameters = {"account": account, "decision_id": decision_id, "global": GLOBAL_SCOPE, "symbol": symbol}
    row = (await conn.execute(_LOCK_FOR_DECISION, parameters)).first()
    if row is None:
        await create_account(conn, account)
        row = (await conn.execute(_LOCK_FOR_DECISION, parameters)).one()
    return await _context(conn, row, portfolio_from_json(account, json.loads(row.state)), symbol)


async def context_for_decision(conn: AsyncConnection, portfolio: PortfolioState, decision_id: str,
                               symbol: str) -> DecisionContext:
    """What a decision on ``symbol`` is judged on, for an account this transaction has locked and holds as
    ``portfolio``: one round trip."""
    row = (await conn.execute(_CONTEXT_FOR_DECISION, {
        "account": portfolio.account, "decision_id": decision_id, "global": GLOBAL_SCOPE,
        "symbols": sorted(symbols_of_interest(portfolio, symbol))})).one()
    return await _context(conn, row, portfolio, symbol)


async def _context(conn: AsyncConnection, row: Any, portfolio: PortfolioState, symbol: str) -> DecisionContext:
    found = {scope: ControlCommand.model_validate_json(command) for scope, command in json.loads(row.controls or "[]")}
    marks = {item[0]: Mark(Decimal(item[1]), datetime.fromisoformat(item[3]),
                           None if item[2] is None else Decimal(item[2]))
             for item in json.loads(row.marks or "[]")}
    missing = symbols_of_interest(portfolio, symbol) - marks.keys()
    if missing:  # no mark at all, or the state the marks were chosen by was older than the locked one
        marks.update((await market_for(conn, missing)).marks)
    return DecisionContext(
        portfolio=portfolio,
        previous=None if row.verdict is None else _stored(row.verdict, row.approved_order),
        control=posture_for(found, portfolio.account),
        market=MarketState(marks),
    )
