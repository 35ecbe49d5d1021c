"""Two risk-firewall replicas sharing four accounts over two partitions, one killed mid-burst.

One deployment owns four accounts (``TORGHUT_ACCOUNTS``), named so that Kafka's key hash puts two
on each partition of the decisions topic; each replica works one partition, so both judge. The
first replica is SIGKILLed while the burst is being judged and the second takes its partition.

Nothing may be lost or doubled: every decision gets a verdict and never two different ones, and
each account's stored state holds exactly one open order per approval of that account, so no
decision was reserved twice, whichever replica judged it, before or after the kill.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import topics
from torghut_contracts.enums import VerdictOutcome
from torghut_contracts.headers import MessageHeaders
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.testing import decision, opening
from torghut_runtime.db import create_engine
from torghut_runtime.testing import counter_total, create_topics_for, eventually, read_records

pytestmark = pytest.mark.slow
ACCOUNTS = ("acct-000", "acct-001", "acct-003", "acct-017")
"""Two on each of two partitions by murmur2 (checked below), as Kafka's default partitioner places them."""
PER_ACCOUNT = 15


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """The firewall's schema, read by the test (the replicas migrate it)."""
    opened = create_engine(fresh_database_url, "risk_firewall")
    yield opened
    await opened.dispose()


async def holds_the_opening(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        states = [await store.read_account(conn, account) for account in ACCOUNTS]
        control = await store.effective_control_for(conn, ACCOUNTS[0])
        marks = await store.market_for(conn, ["AAPL"])
    return all(s is not None and s.equity is not None for s in states) and not control.kill_switch \
        and "AAPL" in marks.marks


async def committed_verdicts(replica: ServiceProcess) -> float:
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"{replica.url}/metrics")).text
    return counter_total(text, "torghut_risk_verdicts")


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    await started.start()
    yield started
    await started.stop()


async def test_two_replicas_share_the_accounts_and_a_killed_one_loses_and_doubles_nothing(
        kafka_bootstrap: str, fresh_database_url: str, topic_namespace: str, tmp_path: Path,
        producer: AIOKafkaProducer, engine: AsyncEngine) -> None:
    assert sorted((murmur2(a.encode()) & 0x7FFFFFFF) % 2 for a in ACCOUNTS) == [0, 0, 1, 1]
    await create_topics_for(kafka_bootstrap, topic_namespace, *topics.ALL_TOPICS, partitions=2)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": fresh_database_url,
           "TOPIC_PREFIX": topic_namespace, "TORGHUT_ACCOUNTS": ",".join(ACCOUNTS), "CLOCK": "event",
           "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200", "KAFKA_FETCH_MAX_WAIT_MS": "20",
           "RISK_LIMITS__COOLDOWN_S": "0", "RISK_LIMITS__MAX_ORDERS_PER_SECOND": "100"}
    replicas = [ServiceProcess(f"risk-firewall-{i}", "torghut_risk_firewall", env, tmp_path) for i in range(2)]

    async def send(spec: topics.TopicSpec[Any], message: Any) -> None:
        await producer.send_and_wait(topic_namespace + spec.name, spec.encode(message),
                                     key=spec.key(message).encode(), headers=MessageHeaders.new(spec.name).as_kafka())

    try:
        for replica in replicas:
            replica.start()
            await asyncio.to_thread(replica.wait_ready, 90)
        for spec, message in opening(ACCOUNTS, ["AAPL"], equity=1_000_000):
            await send(spec, message)
        await eventually(functools.partial(holds_the_opening, engine), timeout=60,
                         what="the firewall to hold the control command, every snapshot and the mark")
        burst = [decision(qty=1, account=ACCOUNTS[i % len(ACCOUNTS)], decision_id=f"d-{i}")
                 for i in range(PER_ACCOUNT * len(ACCOUNTS))]
        half = len(burst) // 2
        for item in burst[:half]:
            await send(topics.DECISIONS, item)
        await read_records(kafka_bootstrap, topic_namespace + topics.RISK_VERDICTS.name, expect=1, timeout=60)
        replicas[0].kill()  # with the first half in hand, some judged, some not
        for item in burst[half:]:
            await send(topics.DECISIONS, item)

        verdicts: dict[str, set[tuple[VerdictOutcome, str | None]]] = defaultdict(set)
        deadline = time.monotonic() + 120
        while len(verdicts) < len(burst) and time.monotonic() < deadline:
            records = await read_records(kafka_bootstrap, topic_namespace + topics.RISK_VERDICTS.name,
                                         expect=len(burst), timeout=10)
            for record in records:
                verdict = record.model(topics.RISK_VERDICTS)
                verdicts[verdict.decision_id].add((verdict.outcome, verdict.client_order_id))
        survivor_judged = await committed_verdicts(replicas[1])
    finally:
        for replica in replicas:
            replica.stop(grace_s=10)
    assert set(verdicts) == {d.decision_id for d in burst}, "every decision judged"
    assert survivor_judged >= len(burst) * 3 // 4, "the survivor judged its own partition and the dead one's rest"
    assert all(len(seen) == 1 for seen in verdicts.values()), "redelivered: its verdict again, never another"
    approved_by_account: dict[str, int] = defaultdict(int)
    for item in burst:
        (outcome, _), = verdicts[item.decision_id]
        assert outcome is VerdictOutcome.APPROVE, item.decision_id
        approved_by_account[item.account] += 1
    async with engine.connect() as conn:
        for account in ACCOUNTS:
            state = await store.read_account(conn, account)
            assert state is not None and len(state.open_orders) == approved_by_account[account] == PER_ACCOUNT, \
                f"{account}: one reservation per approval"
