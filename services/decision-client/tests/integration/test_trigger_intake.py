"""The trigger intake on a real Postgres, driven as the runtime's group commit drives it.

One transaction: ``prepare`` with the group, the handler per trigger, ``flush``; the commit hooks run
after it. A group's claims keep their triggers' order per symbol, and a trigger claimed earlier in the
group makes its symbol busy for those after it, as a claim in the table does. A stored decision is
republished unless its symbol waits. A record the runtime did not prepare reads its own state;
a rolled-back group leaves nothing written and nothing buffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger
from torghut_decision_client.adapters import claims, store
from torghut_decision_client.adapters.intake import TriggerIntake
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
