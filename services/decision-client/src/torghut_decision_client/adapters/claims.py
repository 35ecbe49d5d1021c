"""``decision_claims``: triggers claimed by the handler and not yet decided and published.

A row is written in the handler's transaction (with the message's tracking record), leased by a
worker in a statement of its own, and deleted in another once its decision is published.
Every statement here is one short round trip: none runs while an engine is being asked.

The tracking record of the trigger's message is committed with the claim and no outputs; the
worker writes the decision's output into it when it records the decision (the runtime's
``DeferredOutputs``), so a redelivered trigger republishes the very message the worker published.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, Decision, StrategyTrigger

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


_CLAIM_MANY = sa.text("""
INSERT INTO decision_claims (message_id, account, request_id, symbol, trigger, headers, snapshot, claimed_at,
                             lease_owner, lease_until)
SELECT c.message_id, :account, c.request_id, c.symbol, CAST(c.trigger AS jsonb), CAST(c.headers AS jsonb),
       CAST(c.snapshot AS jsonb), now(), c.lease_owner, now() + make_interval(secs => c.lease_s)
FROM unnest(CAST(:message_ids AS text[]), CAST(:request_ids AS text[]), CAST(:symbols AS text[]),
            CAST(:triggers AS text[]), CAST(:headers AS text[]), CAST(:snapshots AS text[]),
            CAST(:lease_owners AS text[]), CAST(:lease_s AS float8[]))
     WITH ORDINALITY AS c(message_id, request_id, symbol, trigger, headers, snapshot, lease_owner, lease_s, ord)
ORDER BY c.ord
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id, seq
""")
"""A group's claims in one statement, numbered in the order the triggers came (a symbol's claims are
decided oldest first). A message claimed before is left as it is (a claim_last rerun)."""


@dataclass(frozen=True)
class ClaimLease:
    """Whom a trigger's claim is leased to as it is written (the local worker), and for how long."""

    owner: str
    lease_s: float


_EVERY_SYMBOL = """
WITH RECURSIVE symbols AS (
    (SELECT symbol FROM decision_claims ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT c.symbol FROM decision_claims c WHERE c.symbol > s.symbol ORDER BY c.symbol LIMIT 1)
    FROM symbols s WHERE s.symbol IS NOT NULL
),"""
_SOME_SYMBOLS = """
WITH symbols AS (SELECT DISTINCT symbol FROM unnest(CAST(:symbols AS text[])) AS s(symbol)),"""
_LEASE_HEADS = """ heads AS (
    SELECT h.seq, s.symbol FROM symbols s CROSS JOIN LATERAL (
        SELECT c.seq, c.lease_owner, c.lease_until FROM decision_claims c
        WHERE c.symbol = s.symbol ORDER BY c.seq LIMIT 1) h
    WHERE NOT s.symbol = ANY(CAST(:busy AS text[]))
      AND (h.lease_owner IS NULL OR h.lease_owner = :owner OR h.lease_until <= now())
), ready AS (
    SELECT seq FROM heads ORDER BY seq LIMIT :free
), leased AS (
    UPDATE decision_claims c SET lease_owner = :owner, lease_until = now() + make_interval(secs => :lease_s)
    FROM ready
    WHERE c.seq = ready.seq AND (c.lease_owner IS NULL OR c.lease_owner = :owner OR c.lease_until <= now())
    RETURNING c.seq, c.account, c.request_id, c.symbol, CAST(c.trigger AS TEXT) AS trigger,
              CAST(c.headers AS TEXT) AS headers, CAST(c.snapshot AS TEXT) AS snapshot,
              (SELECT CAST(d.payload AS TEXT) FROM decisions d
               WHERE d.account = c.account AND d.request_id = c.request_id) AS decision
)
SELECT *, NULL AS waiting FROM leased
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       (SELECT array_agg(symbol) FROM heads WHERE seq NOT IN (SELECT seq FROM ready))
"""
_LEASE_READY = sa.text(_EVERY_SYMBOL + _LEASE_HEADS)
"""The claims a worker may start now, leased to it in the same statement (``domain.claims`` states the
rules): the oldest claim of each symbol, found by skipping through the (symbol, seq) index from one
symbol to the next (a probe per symbol, where DISTINCT ON reads every claim, and a burst's backlog is
thousands); of those, the ones whose symbol the worker has not in hand and whose lease is free or its
own, oldest first, as many as it has free slots. The update checks the lease again on the row it locks,
so of two workers racing for a claim one gets it. A last row names (``waiting``) the symbols whose claim
was ready too but found no free slot, so the worker can look at them again later without scanning every
symbol."""
_LEASE_READY_AMONG = sa.text(_SOME_SYMBOLS + _LEASE_HEADS)
"""The same among the heads of some symbols only: a probe each, where the full scan probes every symbol."""

_RENEW = sa.text(
    "UPDATE decision_claims SET lease_until = now() + make_interval(secs => :lease_s) "
    "WHERE seq = ANY(CAST(:seqs AS BIGINT[])) AND lease_owner = :owner")
_RELEASE = sa.text("UPDATE decision_claims SET lease_owner = NULL, lease_until = NULL "
                   "WHERE seq = :seq AND lease_owner = :owner")
_FINISH = sa.text("DELETE FROM decision_claims WHERE seq = ANY(CAST(:seqs AS BIGINT[]))")


class NewClaim:
    """A trigger's claim, buffered until its transaction writes its group (:func:`write`)."""

    def __init__(self, trigger: StrategyTrigger, headers: MessageHeaders, *, account: str,
                 snapshot_json: str | None, lease: ClaimLease | None) -> None:
        """With ``lease`` the claim is written leased, so the local worker can start it as soon as the
        transaction commits, without reading and leasing it again. Without, it waits for a worker's scan
        (its symbol has an older claim)."""
        self.trigger = trigger
        self.headers = headers
        self.account = account
        self.snapshot_json = snapshot_json
        self.lease = lease
        self.seq: int | None = None
        """Set when written (None: the message was claimed before)."""

    def claim(self) -> Claim | None:
        """The written claim, when it is leased to the local worker."""
        if self.seq is None or self.lease is None:
            return None
        snapshot = AccountSnapshot.model_validate_json(self.snapshot_json) if self.snapshot_json is not None else None
        return Claim(seq=self.seq, account=self.account, request_id=self.trigger.request_id,
                     symbol=self.trigger.symbol, trigger=self.trigger, headers=self.headers, snapshot=snapshot,
                     decision=None)


async def write(conn: AsyncConnection, new: Sequence[NewClaim]) -> None:
    """Write claims in the handler's transaction, in order, and number them (``seq``)."""
    if not new:
        return
    accounts = {claim.account for claim in new}
    if len(accounts) != 1:
        raise ValueError(f"a group's claims are one account's, not {sorted(accounts)}")
    rows = await conn.execute(_CLAIM_MANY, {
        "account": accounts.pop(), "message_ids": [claim.headers.message_id for claim in new],
        "request_ids": [claim.trigger.request_id for claim in new], "symbols": [claim.trigger.symbol for claim in new],
        "triggers": [claim.trigger.model_dump_json() for claim in new],
        "headers": [json.dumps(claim.headers.as_dict()) for claim in new],
        "snapshots": [claim.snapshot_json for claim in new],
        "lease_owners": [claim.lease.owner if claim.lease else None for claim in new],
        "lease_s": [claim.lease.lease_s if claim.lease else 0.0 for claim in new]})
    seqs = {row.message_id: row.seq for row in rows}
    for claim in new:
        claim.seq = seqs.get(claim.headers.message_id)


@dataclass(frozen=True)
class Leased:
    """What a look for ready claims found: the claims leased, and the symbols whose oldest claim was ready
    too but found no free slot."""

    claims: list[Claim]
    waiting: set[str]


async def lease_ready(engine: AsyncEngine, *, busy: Collection[str], free: int, owner: str, lease_s: float,
                      among: Collection[str] | None = None) -> Leased:
    """Lease to ``owner`` up to ``free`` claims it may start now, oldest first; ``busy``: the symbols it has
    a claim of in hand; ``among``: look only at these symbols' claims (None: every symbol's). One
    statement, committed on its own."""
    if free <= 0 or (among is not None and not among):
        return Leased([], set())
    params: dict[str, Any] = {"busy": list(busy), "free": free, "owner": owner, "lease_s": lease_s}
    statement = _LEASE_READY
    if among is not None:
        statement, params["symbols"] = _LEASE_READY_AMONG, list(among)
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        rows = (await conn.execute(statement, params)).all()
    return Leased(sorted((_claim(row) for row in rows if row.seq is not None), key=lambda c: c.seq),
                  {symbol for row in rows if row.seq is None for symbol in row.waiting or ()})


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

