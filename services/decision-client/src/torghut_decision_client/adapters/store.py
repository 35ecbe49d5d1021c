"""Postgres state of the decision-client (its own schema; tables in :mod:`.tables`).

* ``account_snapshots``: the latest snapshot per account, so the portfolio survives a restart
  without re-reading the snapshot topic;
* ``decisions``: one decision per (account, request id), so a trigger replayed under a new message
  id republishes the stored decision instead of running the engine again.

Every call takes the caller's connection: the handler's (writes commit with the message's processed
mark) or the claim worker's short transaction that records a decision (see ``claims``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import AccountSnapshot, Decision

from ..domain.portfolio import is_newer
from .claims import decision_claims
from .tables import AccountSnapshotRow, DecisionRow

account_snapshots: sa.Table = AccountSnapshotRow.__table__  # type: ignore[attr-defined]
decisions: sa.Table = DecisionRow.__table__  # type: ignore[attr-defined]


async def latest_snapshot(conn: AsyncConnection, account: str, *, for_update: bool = False) -> AccountSnapshot | None:
    query = sa.select(account_snapshots.c.payload).where(account_snapshots.c.account == account)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return AccountSnapshot.model_validate(row.payload) if row is not None else None


async def remember_snapshot(conn: AsyncConnection, snapshot: AccountSnapshot) -> bool:
    """Keep ``snapshot`` if it is newer than the stored one; returns whether it was kept."""
    current = await latest_snapshot(conn, snapshot.account, for_update=True)
    if not is_newer(snapshot, current):
        return False
    values = {"snapshot_id": snapshot.snapshot_id, "as_of": snapshot.as_of,
              "payload": snapshot.model_dump(mode="json"), "received_at": datetime.now(UTC)}
    statement = insert(account_snapshots).values(account=snapshot.account, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=[account_snapshots.c.account], set_=values))
    return True


_DECISION_PAYLOAD = sa.cast(decisions.c.payload, sa.Text)
_SNAPSHOT_PAYLOAD = sa.cast(account_snapshots.c.payload, sa.Text)
_STORED_DECISION = sa.select(_DECISION_PAYLOAD).where(
    decisions.c.account == sa.bindparam("account"), decisions.c.request_id == sa.bindparam("request_id"))
_TRIGGER_STATE = sa.select(
    _STORED_DECISION.scalar_subquery().label("decision"),
    sa.select(_SNAPSHOT_PAYLOAD).where(account_snapshots.c.account == sa.bindparam("account"))
    .scalar_subquery().label("snapshot"),
    sa.exists().where(decision_claims.c.symbol == sa.bindparam("symbol")).label("symbol_busy"))
"""What a trigger's handler needs, in one round trip; payloads as JSON text, parsed by pydantic directly."""
_STORE_DECISION = insert(decisions).values(
    payload=sa.cast(sa.bindparam("payload_json", type_=sa.Text), JSONB),
).on_conflict_do_nothing(index_elements=[decisions.c.account, decisions.c.request_id])
"""Built once (compiled once, cache key memoized); the payload goes in as the model's own JSON."""


@dataclass(frozen=True)
class TriggerState:
    """What is stored for a trigger: its decision (a replay), the account's latest snapshot (as JSON,
    copied into the claim as is) and whether an older claim of the same symbol is unfinished."""

    decision: Decision | None
    snapshot_json: str | None
    symbol_busy: bool


async def trigger_state(conn: AsyncConnection, account: str, request_id: str, symbol: str) -> TriggerState:
    """The stored decision for (account, request id), the account's latest snapshot and whether
    ``symbol`` has a claim still being decided, in one query, in the handler's transaction."""
    row = (await conn.execute(_TRIGGER_STATE, {"account": account, "request_id": request_id,
                                               "symbol": symbol})).one()
    decision = Decision.model_validate_json(row.decision) if row.decision is not None else None
    return TriggerState(decision, row.snapshot, bool(row.symbol_busy))


async def stored_decision(conn: AsyncConnection, account: str, request_id: str) -> Decision | None:
    row = (await conn.execute(_STORED_DECISION, {"account": account, "request_id": request_id})).first()
    return Decision.model_validate_json(row[0]) if row is not None else None


async def store_decision(conn: AsyncConnection, decision: Decision) -> Decision:
    """Store ``decision`` unless one exists for its request; returns the one that is stored."""
    result = await conn.execute(_STORE_DECISION, {
        "account": decision.account, "request_id": decision.request_id, "decision_id": decision.decision_id,
        "symbol": decision.symbol, "action": decision.intent.action.value, "reason_codes": list(decision.reason_codes),
        "transport": decision.provenance.transport, "run_id": decision.provenance.run_id,
        "payload_json": decision.model_dump_json(), "decided_at": decision.decided_at})
    if result.rowcount:
        return decision
    existing = await stored_decision(conn, decision.account, decision.request_id)
    assert existing is not None
    return existing
