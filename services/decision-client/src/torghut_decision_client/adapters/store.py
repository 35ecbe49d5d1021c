"""Postgres state of the decision-client (its own schema; tables in :mod:`.tables`).

* ``account_snapshots``: the latest snapshot per account, so the portfolio survives a restart
  without re-reading the snapshot topic;
* ``decisions``: one decision per (account, request id), so a trigger replayed under a new message
  id republishes the stored decision instead of running the engine again.

Every call takes the caller's connection: the trigger intake's (its reads and claims commit with the
messages' processed marks) or the recorder's, which stores a group of decisions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
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
_ANY_REQUEST_ID = sa.any_(sa.bindparam("request_ids", type_=ARRAY(sa.Text)))
_GROUP_STATE = sa.union_all(
    sa.select(sa.literal_column("'decision'").label("kind"), decisions.c.request_id.label("key"),
              _DECISION_PAYLOAD.label("value"))
    .where(decisions.c.account == sa.bindparam("account"), decisions.c.request_id == _ANY_REQUEST_ID),
    sa.select(sa.literal_column("'snapshot'"), account_snapshots.c.account, _SNAPSHOT_PAYLOAD)
    .where(account_snapshots.c.account == sa.bindparam("account")),
    sa.select(sa.literal_column("'busy'"), decision_claims.c.symbol, sa.null()).distinct()
    .where(decision_claims.c.symbol == sa.any_(sa.bindparam("symbols", type_=ARRAY(sa.Text)))))
"""What a group of triggers needs, in one round trip; payloads as JSON text, parsed by pydantic directly."""
_STORE_DECISIONS = sa.text("""
INSERT INTO decisions (account, request_id, decision_id, symbol, action, reason_codes, transport, run_id, payload,
                       decided_at)
SELECT d.account, d.request_id, d.decision_id, d.symbol, d.action, CAST(d.reason_codes AS jsonb), d.transport,
       d.run_id, CAST(d.payload AS jsonb), d.decided_at
FROM unnest(CAST(:accounts AS text[]), CAST(:request_ids AS text[]), CAST(:decision_ids AS text[]),
            CAST(:symbols AS text[]), CAST(:actions AS text[]), CAST(:reason_codes AS text[]),
            CAST(:transports AS text[]), CAST(:run_ids AS text[]), CAST(:payloads AS text[]),
            CAST(:decided_at AS timestamptz[]))
     AS d(account, request_id, decision_id, symbol, action, reason_codes, transport, run_id, payload, decided_at)
ON CONFLICT (account, request_id) DO NOTHING
RETURNING account, request_id
""")
"""A group's decisions in one statement; each payload goes in as the model's own JSON."""
_STORED_DECISIONS = sa.select(decisions.c.account, decisions.c.request_id, _DECISION_PAYLOAD.label("payload")).where(
    decisions.c.request_id == _ANY_REQUEST_ID)


@dataclass(frozen=True)
class GroupState:
    """What is stored for a group of triggers: the decisions of those already decided (a replay), the
    account's latest snapshot (as JSON, copied into each claim as is) and which of their symbols have
    a claim still being decided."""

    asked: frozenset[str]
    """The request ids this state was read for."""
    decisions_json: dict[str, str]
    snapshot_json: str | None
    busy: frozenset[str]

    def decision(self, request_id: str) -> Decision | None:
        stored = self.decisions_json.get(request_id)
        return Decision.model_validate_json(stored) if stored is not None else None


async def group_state(conn: AsyncConnection, account: str, request_ids: Sequence[str],
                      symbols: Sequence[str]) -> GroupState:
    """The stored decisions for (account, each request id), the account's latest snapshot and which of
    ``symbols`` have a claim still being decided, in one query, in the handler's transaction."""
    decided: dict[str, str] = {}
    snapshot: str | None = None
    busy: set[str] = set()
    for kind, key, value in await conn.execute(_GROUP_STATE, {"account": account, "request_ids": list(request_ids),
                                                              "symbols": list(symbols)}):
        if kind == "decision":
            decided[key] = value
        elif kind == "snapshot":
            snapshot = value
        else:
            busy.add(key)
    return GroupState(frozenset(request_ids), decided, snapshot, frozenset(busy))


async def store_decisions(conn: AsyncConnection, new: Sequence[Decision]) -> list[Decision]:
    """Store each decision unless one exists for its request; returns the ones stored, in order (a
    decision stored before wins over the one given)."""
    if not new:
        return []
    inserted = {(row.account, row.request_id) for row in await conn.execute(_STORE_DECISIONS, {
        "accounts": [d.account for d in new], "request_ids": [d.request_id for d in new],
        "decision_ids": [d.decision_id for d in new], "symbols": [d.symbol for d in new],
        "actions": [d.intent.action.value for d in new],
        "reason_codes": [json.dumps(list(d.reason_codes)) for d in new],
        "transports": [d.provenance.transport for d in new], "run_ids": [d.provenance.run_id for d in new],
        "payloads": [d.model_dump_json() for d in new], "decided_at": [d.decided_at for d in new]})}
    earlier = [d.request_id for d in new if (d.account, d.request_id) not in inserted]
    stored = {(row.account, row.request_id): Decision.model_validate_json(row.payload)
              for row in await conn.execute(_STORED_DECISIONS, {"request_ids": earlier})} if earlier else {}
    return [d if (d.account, d.request_id) in inserted else stored[(d.account, d.request_id)] for d in new]
