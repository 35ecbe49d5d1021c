"""The risk firewall as separate processes over a partitioned decisions topic: replicas and accounts.

One run: ``replicas`` firewall processes (``python -m torghut_risk_firewall``, one deployment, the
same ``TORGHUT_ACCOUNTS``) in one consumer group over topics of ``replicas`` partitions, against one
EmbeddedStack. A burst of decisions spread round-robin over the accounts (and over five symbols) is
produced at once; the run's figure is verdicts per second from the first send to the last verdict.

Accounts are named so that the producer's hash (murmur2, as Kafka's) spreads them evenly over 1, 2
and 4 partitions; otherwise a replica count would be measured against an unlucky key spread. Every
run also checks what the replica-kill test checks, on a larger scale: one verdict per decision, no
decision approved twice. How many decisions each replica judged is read from its own metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client.parser import text_string_to_metric_families
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_embedded.kafka import delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_risk_firewall.testing import decision, opening
from torghut_runtime.testing import create_topics_for

from .procfs import cpu_seconds

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMD", "META")
SPECS = (topics.DECISIONS, topics.CONTROL, topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS, topics.TA_SIGNALS,
         topics.RISK_VERDICTS, topics.ORDERS_APPROVED)


def even_accounts(count: int, partitions: int = 4) -> list[str]:
    """``count`` account names (at most ``partitions``, or a multiple of it) spread evenly over
    ``partitions``, and so over any divisor of it, by Kafka's default key hash."""
    per = max(1, count // partitions)
    buckets: list[list[str]] = [[] for _ in range(partitions)]
    for i in itertools.count():
        name = f"acct-{i:03d}"
        bucket = buckets[(murmur2(name.encode()) & 0x7FFFFFFF) % partitions]
        if len(bucket) < per:
            bucket.append(name)
        if all(len(b) == per for b in buckets):
            break
    return sorted([bucket[n] for n in range(per) for bucket in buckets][:count])


@dataclass(frozen=True)
class ReplicaRun:
    replicas: int
    accounts: int
    burst: int
    verdicts_per_s: float
    cpu_ms_per_decision: float
    """The firewall processes' CPU (user + system, all replicas) over the burst, per decision."""
    judged_by_replica: list[int]
    approved: int

    def as_dict(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "accounts": self.accounts, "burst": self.burst,
                "verdicts_per_s": round(self.verdicts_per_s, 1),
                "cpu_ms_per_decision": round(self.cpu_ms_per_decision, 2),
                "judged_by_replica": self.judged_by_replica, "approved": self.approved}


async def judged_count(client: httpx.AsyncClient, replica: ServiceProcess) -> int:
    """Verdicts this replica has committed (its ``torghut_risk_verdicts`` counter, every outcome)."""
    text = (await client.get(f"{replica.url}/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "torghut_risk_verdicts":
            return int(sum(s.value for s in family.samples if s.name.endswith("_total")))
    return 0


async def run_replicas(bootstrap: str, admin_url: str, log_dir: Path, *, replicas: int, accounts: int,
                       burst: int) -> ReplicaRun:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, db_name)
    names = await create_topics_for(bootstrap, prefix, *SPECS, partitions=replicas)
    owned = even_accounts(accounts)
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TOPIC_PREFIX": prefix,
           "TORGHUT_ACCOUNTS": ",".join(owned), "CLOCK": "event", "LOG_LEVEL": "WARNING",
           "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200", "KAFKA_FETCH_MAX_WAIT_MS": "20",
           "RISK_LIMITS__COOLDOWN_S": "0", "RISK_LIMITS__MAX_ORDERS_PER_SECOND": "199",
           "RISK_LIMITS__MAX_ORDERS_PER_MINUTE": "199"}
    processes = [ServiceProcess(f"risk-firewall-{i}", "torghut_risk_firewall", env, log_dir) for i in range(replicas)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(prefix + topics.RISK_VERDICTS.name, bootstrap_servers=bootstrap,
                                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=5,
                                group_id=f"bench-{prefix}")
    try:
        for process in processes:  # one at a time: the first migrates the schema
            process.start()
            await asyncio.to_thread(process.wait_ready, 90)
        await producer.start()
        await consumer.start()

        async def send(spec: topics.TopicSpec[Any], message: Any) -> None:
            await producer.send(prefix + spec.name, spec.encode(message), key=spec.key(message).encode(),
                                headers=MessageHeaders.new(spec.name).as_kafka())

        for spec, message in opening(owned, SYMBOLS):
            await send(spec, message)
        await producer.flush()

        verdicts: dict[str, list[Any]] = {}

        async def collect(until: int, timeout_s: float) -> None:
            deadline = time.monotonic() + timeout_s
            while len(verdicts) < until:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(verdicts)} of {until} decisions judged; logs in {log_dir}")
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        verdict = topics.RISK_VERDICTS.decode(record.value)
                        verdicts.setdefault(verdict.decision_id, []).append(verdict)

        # Warm up until every replica has judged (the group has settled, each holds its partitions).
        async with httpx.AsyncClient(timeout=5.0) as client:
            for wave in itertools.count():
                if wave > 60:
                    raise TimeoutError(f"not every replica judged a decision; logs in {log_dir}")
                for account in owned:
                    await send(topics.DECISIONS, decision(qty=1, account=account, decision_id=f"warm-{wave}-{account}"))
                await producer.flush()
                await collect(len(verdicts) + len(owned), 60)
                if all(await asyncio.gather(*(judged_count(client, p) for p in processes))):
                    break
            judged_before = await asyncio.gather(*(judged_count(client, p) for p in processes))
            cpu_before = [cpu_seconds(p.process.pid) or 0.0 for p in processes if p.process]
            warm = len(verdicts)
            payloads = [decision(qty=1, account=owned[i % len(owned)], symbol=SYMBOLS[i % len(SYMBOLS)],
                                 decision_id=f"burst-{i}") for i in range(burst)]
            started = time.perf_counter()
            for payload in payloads:
                await send(topics.DECISIONS, payload)
            await producer.flush()
            await collect(warm + burst, 300)
            elapsed = time.perf_counter() - started
            cpu_after = [cpu_seconds(p.process.pid) or 0.0 for p in processes if p.process]
            judged_after = await asyncio.gather(*(judged_count(client, p) for p in processes))
        twice = [d for d, seen in verdicts.items() if len({(v.outcome, v.client_order_id) for v in seen}) > 1]
        if twice:
            raise AssertionError(f"decisions judged two ways: {twice[:5]}")
        burst_verdicts = [seen[0] for d, seen in verdicts.items() if d.startswith("burst-")]
        return ReplicaRun(replicas, accounts, burst, burst / elapsed,
                          1000 * (sum(cpu_after) - sum(cpu_before)) / burst,
                          [after - before for before, after in zip(judged_before, judged_after, strict=True)],
                          sum(1 for v in burst_verdicts if v.client_order_id is not None))
    finally:
        await consumer.stop()
        await producer.stop()
        for process in processes:
            process.stop(grace_s=10)
        try:
            await delete_topics(bootstrap, names)
        finally:
            await drop_database(admin_url, db_name)
