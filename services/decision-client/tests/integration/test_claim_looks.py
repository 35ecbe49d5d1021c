"""Finding and leasing the claims to start, and the worker's looks, on a real Postgres.

``claims.lease_ready`` takes each symbol's oldest claim, oldest first, up to the free slots, and names
the ready ones it had no slot for; the worker scans every symbol once per ``poll_s`` and between
those scans probes only the symbols a wake-up named. The intake writes the claims, as it does live.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_decision_client.adapters import claims
from torghut_decision_client.adapters.intake import TriggerIntake
from torghut_decision_client.adapters.worker import DecisionWorker
from torghut_decision_client.metrics import DecisionMetrics

from .conftest import ACCOUNT, trigger
from .test_trigger_intake import OWNER, claim_rows, engine, handle_group, inbound, make_intake

__all__ = ["engine"]  # the fixture, shared with the intake's tests


async def claims_in_order(engine: AsyncEngine, order: list[tuple[str, str]]) -> dict[str, int]:
    """Claim ``(request id, symbol)`` triggers in one group; their seqs by request id. Each symbol's first
    claim is written leased to ``OWNER`` (the intake's lease), the others unleased."""
    intake, _ = make_intake()
    now = datetime.now(UTC)
    await handle_group(engine, intake, [inbound(trigger(r, s, now), f"m-{r}") for r, s in order])
    async with engine.connect() as conn:
        return dict((await conn.execute(sa.text("SELECT request_id, seq FROM decision_claims"))).all())


async def lease_ready(engine: AsyncEngine, *, owner: str = OWNER, busy: tuple[str, ...] = (), free: int = 8,
                      among: tuple[str, ...] | None = None) -> list[str]:
    leased = await claims.lease_ready(engine, busy=busy, free=free, owner=owner, lease_s=15.0, among=among)
    return [claim.request_id for claim in leased.claims]


async def test_lease_ready_takes_the_oldest_claim_of_each_symbol_oldest_first_up_to_the_free_slots(
        engine: AsyncEngine) -> None:
    seq_of = await claims_in_order(engine, [("req-b1", "BBB"), ("req-a1", "AAA"), ("req-b2", "BBB"),
                                            ("req-c1", "CCC"), ("req-a2", "AAA")])
    assert await lease_ready(engine, free=0) == []
    two = await claims.lease_ready(engine, busy=(), free=2, owner=OWNER, lease_s=15.0)
    assert [claim.request_id for claim in two.claims] == ["req-b1", "req-a1"], "the oldest heads first, two slots"
    assert two.waiting == {"CCC"}, "a ready head with no slot left is named, to be looked at again"
    assert await lease_ready(engine) == ["req-b1", "req-a1", "req-c1"], "one claim per symbol, never a second"
    await claims.finish(engine, [seq_of["req-a1"], seq_of["req-c1"]])
    assert await lease_ready(engine) == ["req-b1", "req-a2"]
    assert await claim_rows(engine) == [("req-b1", "BBB", OWNER), ("req-b2", "BBB", None),
                                        ("req-a2", "AAA", OWNER)]


async def test_lease_ready_passes_over_symbols_in_hand(engine: AsyncEngine) -> None:
    await claims_in_order(engine, [("req-a1", "AAA"), ("req-b1", "BBB"), ("req-a2", "AAA")])
    assert await lease_ready(engine, busy=("AAA",)) == ["req-b1"], "AAA's next waits for the one in hand"


async def test_lease_ready_among_some_symbols_looks_at_those_only(engine: AsyncEngine) -> None:
    await claims_in_order(engine, [("req-a1", "AAA"), ("req-b1", "BBB"), ("req-c1", "CCC")])
    assert await lease_ready(engine, among=("CCC", "BBB", "CCC", "ZZZ")) == ["req-b1", "req-c1"]
    assert await lease_ready(engine, among=()) == []


async def test_lease_ready_leaves_another_workers_live_lease_and_takes_an_expired_one(engine: AsyncEngine) -> None:
    seq_of = await claims_in_order(engine, [("req-a1", "AAA"), ("req-b1", "BBB")])
    assert await lease_ready(engine, owner="replica-2:7") == [], "both leased live to OWNER by the intake"
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE decision_claims SET lease_until = now() - interval '1 second' "
                                   "WHERE seq = :seq"), {"seq": seq_of["req-b1"]})
    assert await lease_ready(engine, owner="replica-2:7", free=1) == ["req-b1"], "the older req-a1 takes no slot"
    assert await claim_rows(engine) == [("req-a1", "AAA", OWNER), ("req-b1", "BBB", "replica-2:7")]
    assert await lease_ready(engine) == ["req-a1"], "its own lease, from a previous run of the worker"


async def test_a_claim_offered_while_the_workers_lease_of_it_is_on_the_way_is_started_once(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's scan can see a claim commit before the intake's commit hook offers it: both then hold
    the same claim, and it must still be decided by one task."""
    now = datetime.now(UTC)
    intake, offered = make_intake()
    await handle_group(engine, intake, [inbound(trigger("req-a1", "AAA", now), "m-a1")])
    (claim,) = offered
    assert claim is not None
    worker = DecisionWorker(engine, handlers=None, outputs=None, concurrency=4,  # type: ignore[arg-type]
                            lease_s=15.0, retry_backoff_s=0.1, max_attempts=3, owner=OWNER)
    started: list[int] = []
    release = asyncio.Event()

    async def work(leased: claims.Claim) -> None:
        started.append(leased.seq)
        await release.wait()

    monkeypatch.setattr(worker, "_work", work)
    real_lease = claims.lease_ready

    async def lease_racing_the_offer(*args: Any, **kwargs: Any) -> claims.Leased:
        leased = await real_lease(*args, **kwargs)
        worker.offer(claim.symbol, claim)  # the intake's commit hook runs while the lease is on its way back
        return leased

    monkeypatch.setattr(claims, "lease_ready", lease_racing_the_offer)
    await worker.start_ready()
    await asyncio.sleep(0)
    assert started == [claim.seq] and worker.in_hand == 1
    release.set()


class FakeDecisions:
    """Stands in for the worker's engine call and recording: each claim's work waits until released, then
    finishes the claim as the recorder does."""

    def __init__(self, engine: AsyncEngine, concurrency: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.worker = DecisionWorker(engine, handlers=None, outputs=None,  # type: ignore[arg-type]
                                     concurrency=concurrency, lease_s=15.0, retry_backoff_s=0.1, max_attempts=3,
                                     owner=OWNER)
        self.worker.poll_s = 3600.0  # one full scan, the first: everything after must come from wake-ups
        self.started: list[str] = []
        self._release: dict[str, asyncio.Event] = {}

        async def work(claim: claims.Claim) -> None:
            self.started.append(claim.request_id)
            await self._release.setdefault(claim.request_id, asyncio.Event()).wait()
            await claims.finish(engine, [claim.seq])

        monkeypatch.setattr(self.worker, "_work", work)

    async def look(self) -> None:
        """One look for ready claims, and the tasks it started get going."""
        await self.worker.start_ready()
        await asyncio.sleep(0)

    async def finish(self, request_id: str) -> None:
        in_hand = self.worker.in_hand
        self._release.setdefault(request_id, asyncio.Event()).set()
        for _ in range(200):
            if self.worker.in_hand < in_hand:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{request_id} did not finish")


async def test_heads_ready_past_the_free_slots_start_as_slots_free_without_another_full_scan(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await claims_in_order(engine, [("req-a1", "AAA"), ("req-b1", "BBB"), ("req-c1", "CCC"), ("req-d1", "DDD")])
    fake = FakeDecisions(engine, 2, monkeypatch)
    await fake.look()
    assert fake.started == ["req-a1", "req-b1"]
    await fake.finish("req-a1")
    await fake.look()
    assert fake.started == ["req-a1", "req-b1", "req-c1"], "CCC was named by the full scan, oldest first"
    await fake.finish("req-c1")
    await fake.look()
    assert fake.started[3:] == ["req-d1"]


async def test_a_claim_committed_while_the_worker_is_full_or_behind_its_symbol_starts_when_it_may(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC)
    fake = FakeDecisions(engine, 2, monkeypatch)
    await fake.look()  # the one full scan, with nothing to find
    intake = TriggerIntake(ACCOUNT, DecisionMetrics(CollectorRegistry()))
    intake.claim_lease = claims.ClaimLease(OWNER, 15.0)
    intake.on_claimed = fake.worker.offer
    await handle_group(engine, intake, [inbound(trigger("req-a1", "AAA", now), "m-a1")])
    await handle_group(engine, intake, [inbound(trigger("req-a2", "AAA", now), "m-a2")])
    await fake.look()  # woken by req-a2's offer: AAA is in hand, so it waits
    await handle_group(engine, intake, [inbound(trigger("req-b1", "BBB", now), "m-b1"),
                                        inbound(trigger("req-c1", "CCC", now), "m-c1")])
    await fake.look()
    assert fake.started == ["req-a1", "req-b1"], "req-c1 is leased to the worker as it is written, but no slot is free"
    await fake.finish("req-a1")
    await fake.look()
    assert fake.started[2:] == ["req-a2"], "req-a1's end named AAA, and req-a2 is older than req-c1"
    await fake.finish("req-b1")
    await fake.look()
    assert fake.started[3:] == ["req-c1"], "its offer named CCC"


async def test_a_look_that_fails_is_made_again_with_the_same_symbols(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await claims_in_order(engine, [("req-a1", "AAA"), ("req-b1", "BBB")])
    fake = FakeDecisions(engine, 1, monkeypatch)
    await fake.look()
    assert fake.started == ["req-a1"]
    real_lease = claims.lease_ready

    async def database_away(*_args: Any, **_kwargs: Any) -> claims.Leased:
        monkeypatch.setattr(claims, "lease_ready", real_lease)
        raise ConnectionError("the database went away")

    monkeypatch.setattr(claims, "lease_ready", database_away)
    await fake.finish("req-a1")
    with pytest.raises(ConnectionError):
        await fake.look()
    await fake.look()
    assert fake.started == ["req-a1", "req-b1"], "BBB, named by the failed look, is looked at again"
