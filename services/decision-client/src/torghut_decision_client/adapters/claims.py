"""``decision_claims``: triggers claimed by the handler and not yet decided and published.

A row is written in the handler's transaction (with the message's tracking record), leased by a
worker in a short transaction of its own, and deleted in another once its decision is published.
Every statement here is one short round trip: none runs while an engine is being asked.

The tracking record of the trigger's message is committed with the claim and no outputs; the
worker writes the decision's output into it when it records the decision (the runtime's
``DeferredOutputs``), so a redelivered trigger republishes the very message the worker published.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, Decision, StrategyTrigger

from ..domain.claims import Head
from .tables import DecisionClaim

decision_claims: sa.Table = DecisionClaim.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claim:
    """A leased claim: everything the worker needs to decide and publish without reading again."""

    seq: int
    account: str
    request_id: str
    symbol: str
    trigger: StrategyTrigger
    headers: MessageHeaders
    """The trigger message's headers: the decision's message id and causation derive from them."""
    snapshot: AccountSnapshot | None
    """The account's latest snapshot when the trigger was claimed (the portfolio of its request)."""
    decision: Decision | None
    """The decision already stored for the request (a replay, or a worker that died after storing it)."""


_CLAIM = insert(decision_claims).values(
    trigger=sa.cast(sa.bindparam("trigger_json", type_=sa.Text), JSONB),
    headers=sa.cast(sa.bindparam("headers_json", type_=sa.Text), JSONB),
    snapshot=sa.cast(sa.bindparam("snapshot_json", type_=sa.Text), JSONB),
    claimed_at=sa.func.now(),
    lease_until=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam("lease_s", type_=sa.Float)),
).on_conflict_do_nothing(index_elements=[decision_claims.c.message_id]).returning(decision_claims.c.seq)
"""Built once; a claim_last rerun of the handler rolls back with its transaction anyway."""


@dataclass(frozen=True)
class ClaimLease:
    """Whom a trigger's claim is leased to as it is written (the local worker), and for how long."""

    owner: str
    lease_s: float

_HEADS = sa.text(
    "SELECT DISTINCT ON (symbol) seq, symbol, lease_owner, "
    "(lease_until IS NOT NULL AND lease_until > now()) AS leased "
    "FROM decision_claims ORDER BY symbol, seq")

_LEASE = sa.text(
    "UPDATE decision_claims c SET lease_owner = :owner, lease_until = now() + make_interval(secs => :lease_s) "
    "WHERE c.seq = ANY(CAST(:seqs AS BIGINT[])) "
    "AND (c.lease_owner IS NULL OR c.lease_owner = :owner OR c.lease_until <= now()) "
    "RETURNING c.seq, c.account, c.request_id, c.symbol, CAST(c.trigger AS TEXT) AS trigger, "
    "CAST(c.headers AS TEXT) AS headers, CAST(c.snapshot AS TEXT) AS snapshot, "
    "(SELECT CAST(d.payload AS TEXT) FROM decisions d "
    " WHERE d.account = c.account AND d.request_id = c.request_id) AS decision")

_RENEW = sa.text(
    "UPDATE decision_claims SET lease_until = now() + make_interval(secs => :lease_s) "
    "WHERE seq = ANY(CAST(:seqs AS BIGINT[])) AND lease_owner = :owner")
_RELEASE = sa.text("UPDATE decision_claims SET lease_owner = NULL, lease_until = NULL "
                   "WHERE seq = :seq AND lease_owner = :owner")
_FINISH = sa.text("DELETE FROM decision_claims WHERE seq = ANY(CAST(:seqs AS BIGINT[]))")


async def claim(conn: AsyncConnection, trigger: StrategyTrigger, headers: MessageHeaders, *, account: str,
                snapshot_json: str | None, lease: ClaimLease | None) -> Claim | None:
    """Claim a trigger in the handler's transaction (a message claimed before is left as it is).

    With ``lease`` the claim is written leased, and returned, so the local worker can start it as soon
    as the transaction commits, without reading and leasing it again (two round trips fewer between a
    trigger and its decision). Without, it waits for a worker's scan (its symbol has an older claim)."""
    seq = (await conn.execute(_CLAIM, {
        "message_id": headers.message_id, "account": account, "request_id": trigger.request_id,
        "symbol": trigger.symbol, "trigger_json": trigger.model_dump_json(),
        "headers_json": json.dumps(headers.as_dict()), "snapshot_json": snapshot_json,
        "lease_owner": lease.owner if lease else None, "lease_s": lease.lease_s if lease else 0.0})).scalar()
    if seq is None or lease is None:
        return None
    snapshot = AccountSnapshot.model_validate_json(snapshot_json) if snapshot_json is not None else None
    return Claim(seq=seq, account=account, request_id=trigger.request_id, symbol=trigger.symbol, trigger=trigger,
                 headers=headers, snapshot=snapshot, decision=None)


async def heads(engine: AsyncEngine) -> list[Head]:
    """The oldest unfinished claim of every symbol."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_HEADS)).all()
    return [Head(seq=row.seq, symbol=row.symbol, lease_owner=row.lease_owner, leased=row.leased) for row in rows]


async def lease(engine: AsyncEngine, seqs: Sequence[int], *, owner: str, lease_s: float) -> list[Claim]:
    """Lease the claims ``seqs`` to ``owner``; those another worker took meanwhile are not returned."""
    if not seqs:
        return []
    async with engine.begin() as conn:
        rows = (await conn.execute(_LEASE, {"seqs": list(seqs), "owner": owner, "lease_s": lease_s})).all()
    return sorted((_claim(row) for row in rows), key=lambda c: c.seq)


def _claim(row: Any) -> Claim:
    headers = MessageHeaders.parse(json.loads(row.headers), fallback_id=f"claim/{row.seq}", schema=topics.TRIGGERS.name)
    return Claim(
        seq=row.seq, account=row.account, request_id=row.request_id, symbol=row.symbol,
        trigger=StrategyTrigger.model_validate_json(row.trigger), headers=headers,
        snapshot=AccountSnapshot.model_validate_json(row.snapshot) if row.snapshot is not None else None,
        decision=Decision.model_validate_json(row.decision) if row.decision is not None else None)


async def renew(engine: AsyncEngine, seqs: Sequence[int], *, owner: str, lease_s: float) -> None:
    """Extend ``owner``'s leases on the claims ``seqs`` (those another worker took over are left alone)."""
    if seqs:
        async with engine.begin() as conn:
            await conn.execute(_RENEW, {"seqs": list(seqs), "owner": owner, "lease_s": lease_s})


async def release(engine: AsyncEngine, seq: int, *, owner: str) -> None:
    """Give a claim back (a stop cut its engine call short): any worker may take it at once."""
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {"seq": seq, "owner": owner})


async def finish(engine: AsyncEngine, seqs: Sequence[int], conn: AsyncConnection | None = None) -> None:
    """The claims' decisions are recorded and published (or the claims dead-lettered): they are done."""
    if conn is not None:
        await conn.execute(_FINISH, {"seqs": list(seqs)})
        return
    async with engine.begin() as own:
        await own.execute(_FINISH, {"seqs": list(seqs)})

