"""The trigger intake on a real Postgres, driven as the runtime's group commit drives it.

One transaction: ``prepare`` with the group, the handler per trigger, ``flush``; the commit hooks run
after it. A group's claims keep their triggers' order per symbol, and a trigger claimed earlier in the
group makes its symbol busy for those after it, as a claim in the table does. A stored decision is
republished unless its symbol waits. A record the runtime did not prepare reads its own state;
a rolled-back group leaves nothing written and nothing buffered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger
from torghut_decision_client.adapters import claims, store
from torghut_decision_client.adapters.intake import TriggerIntake
from torghut_decision_client.adapters.worker import DecisionWorker
from torghut_decision_client.app import MIGRATIONS
from torghut_decision_client.domain.outcome import hold_without_engine
from torghut_decision_client.metrics import DecisionMetrics
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.commit_hooks import CommitHooks
from torghut_runtime.testing import migrated_engine

from .conftest import ACCOUNT, trigger

OWNER = "replica-1:1"


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(fresh_database_url, "decision_client", MIGRATIONS) as migrated:
        yield migrated


def make_intake(registry: CollectorRegistry | None = None) -> tuple[TriggerIntake, list[claims.Claim | None]]:
    intake = TriggerIntake(ACCOUNT, DecisionMetrics(registry or CollectorRegistry()))
    offered: list[claims.Claim | None] = []
    intake.on_claimed = lambda _symbol, claim: offered.append(claim)
    intake.claim_lease = claims.ClaimLease(OWNER, 15.0)
    return intake, offered


def inbound(message: StrategyTrigger, message_id: str) -> Inbound[StrategyTrigger]:
    headers = MessageHeaders.new(topics.TRIGGERS.name, message_id=message_id, correlation_id=message.request_id)
    return Inbound(payload=message, headers=headers, topic=topics.TRIGGERS.name, partition=0, offset=0, key=None,
                   timestamp=datetime.now(UTC))


async def handle_group(engine: AsyncEngine, intake: TriggerIntake, group: list[Inbound[StrategyTrigger]], *,
                       prepare: bool = True) -> list[list[Outgoing]]:
    hooks = CommitHooks()
    with hooks:
        async with engine.begin() as conn:
            if prepare:
                await intake.prepare(conn, group)
            outputs = [await intake(item, conn) for item in group]
            await intake.flush(conn)
    hooks.run()
    return outputs


async def claim_rows(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT request_id, symbol, lease_owner FROM decision_claims ORDER BY seq"))
        return [(row.request_id, row.symbol, row.lease_owner) for row in rows]


@pytest.mark.parametrize("prepare", [True, False], ids=["prepared", "each-reads-its-own"])
async def test_a_groups_claims_keep_symbol_order_and_only_each_symbols_first_is_leased(
        engine: AsyncEngine, prepare: bool) -> None:
    now = datetime.now(UTC)
    intake, offered = make_intake()
    group = [inbound(trigger("req-a1", "AAA", now), "m-a1"), inbound(trigger("req-b1", "BBB", now), "m-b1"),
             inbound(trigger("req-a2", "AAA", now), "m-a2")]
    outputs = await handle_group(engine, intake, group, prepare=prepare)

    assert outputs == [[], [], []]
    assert await claim_rows(engine) == [("req-a1", "AAA", OWNER), ("req-b1", "BBB", OWNER), ("req-a2", "AAA", None)]
    leased = [claim.request_id if claim else None for claim in offered]
    assert leased == ["req-a1", "req-b1", None], "req-a2 waits behind req-a1: a worker's scan starts it later"
    a1, b1 = offered[0], offered[1]
    assert a1 is not None and b1 is not None and a1.seq < b1.seq

    # The next group: AAA still has claims in the table, so its new trigger waits; CCC is free.
    later = await handle_group(engine, intake, [inbound(trigger("req-a3", "AAA", now), "m-a3"),
                                                inbound(trigger("req-c1", "CCC", now), "m-c1")], prepare=prepare)
    assert later == [[], []]
    assert [claim.request_id if claim else None for claim in offered[3:]] == [None, "req-c1"]


async def test_a_stored_decision_is_republished_unless_its_symbol_waits(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    decided = [hold_without_engine(trigger(request_id, symbol, now), account=ACCOUNT, transport="decision-engine",
                                   reason="no_portfolio", detail="test", decided_at=now)
               for request_id, symbol in (("req-free", "FREE"), ("req-wait", "WAIT"))]
    async with engine.begin() as conn:
        assert await store.store_decisions(conn, decided) == decided
    registry = CollectorRegistry()
    intake, _ = make_intake(registry)
    await handle_group(engine, intake, [inbound(trigger("req-older", "WAIT", now), "m-older")])

    outputs = await handle_group(engine, intake, [inbound(trigger("req-free", "FREE", now), "m-free-again"),
                                                  inbound(trigger("req-wait", "WAIT", now), "m-wait-again")])
    assert [[out.message for out in output] for output in outputs] == [[decided[0]], []]
    assert [row[0] for row in await claim_rows(engine)] == ["req-older", "req-wait"]
    assert registry.get_sample_value("torghut_decision_client_replayed_total") == 1


async def test_a_rolled_back_group_leaves_nothing_written_or_buffered(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    intake, offered = make_intake()
    group = [inbound(trigger("req-x", "XXX", now), "m-x")]
    hooks = CommitHooks()
    with pytest.raises(RuntimeError), hooks:
        async with engine.begin() as conn:
            await intake.prepare(conn, group)
            await intake(group[0], conn)
            raise RuntimeError("the group's transaction fails")
    intake.discard()
    assert offered == []
    await handle_group(engine, intake, [inbound(trigger("req-y", "YYY", now), "m-y")])
    assert await claim_rows(engine) == [("req-y", "YYY", OWNER)], "req-x was forgotten with its transaction"


async def test_store_decisions_keeps_a_decision_stored_before(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    first = hold_without_engine(trigger("req-1", "AAA", now), account=ACCOUNT, transport="decision-engine",
                                reason="first", detail="", decided_at=now)
    second = first.model_copy(update={"reason_codes": ["second"]})
    other = hold_without_engine(trigger("req-2", "BBB", now), account=ACCOUNT, transport="decision-engine",
                                reason="other", detail="", decided_at=now)
    async with engine.begin() as conn:
        await store.store_decisions(conn, [first])
        assert await store.store_decisions(conn, [other, second]) == [other, first]


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
