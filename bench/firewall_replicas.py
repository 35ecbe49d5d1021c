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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_embedded.kafka import delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_risk_firewall.testing import decision, opening
from torghut_runtime.testing import counter_total, create_topics_for

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
    return int(counter_total((await client.get(f"{replica.url}/metrics")).text, "torghut_risk_verdicts"))


class ReplicaBench:
    """One run's processes, producer and verdict reader, on topics and a database of its own."""

    def __init__(self, bootstrap: str, prefix: str, database_url: str, log_dir: Path, *, replicas: int,
                 accounts: list[str]) -> None:
        self.prefix, self.accounts, self.log_dir = prefix, accounts, log_dir
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TOPIC_PREFIX": prefix,
               "TORGHUT_ACCOUNTS": ",".join(accounts), "CLOCK": "event", "LOG_LEVEL": "WARNING",
               "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
               "KAFKA_FETCH_MAX_WAIT_MS": "20", "RISK_LIMITS__COOLDOWN_S": "0",
               "RISK_LIMITS__MAX_ORDERS_PER_SECOND": "199", "RISK_LIMITS__MAX_ORDERS_PER_MINUTE": "199"}
        self.processes = [ServiceProcess(f"risk-firewall-{i}", "torghut_risk_firewall", env, log_dir)
                          for i in range(replicas)]
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        self.consumer = AIOKafkaConsumer(prefix + topics.RISK_VERDICTS.name, bootstrap_servers=bootstrap,
                                         enable_auto_commit=False, auto_offset_reset="earliest",
                                         fetch_max_wait_ms=5, group_id=f"bench-{prefix}")
        self.http = httpx.AsyncClient(timeout=5.0)
        self.verdicts: dict[str, list[Any]] = {}
        """Every verdict read, by decision id (a redelivered decision may be answered twice)."""

    async def start(self) -> None:
        for process in self.processes:  # one at a time: the first migrates the schema
            process.start()
            await asyncio.to_thread(process.wait_ready, 90)
        await self.producer.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.http.aclose()
        await self.consumer.stop()
        await self.producer.stop()
        for process in self.processes:
            process.stop(grace_s=10)

    async def send(self, messages: Iterable[tuple[topics.TopicSpec[Any], Any]]) -> None:
        for spec, message in messages:
            await self.producer.send(self.prefix + spec.name, spec.encode(message), key=spec.key(message).encode(),
                                     headers=MessageHeaders.new(spec.name).as_kafka())
        await self.producer.flush()

    async def collect(self, until: int, timeout_s: float) -> None:
        """Read verdicts until ``until`` decisions have one."""
        deadline = time.monotonic() + timeout_s
        while len(self.verdicts) < until:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.verdicts)} of {until} decisions judged; logs in {self.log_dir}")
            for records in (await self.consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    verdict = topics.RISK_VERDICTS.decode(record.value)
                    self.verdicts.setdefault(verdict.decision_id, []).append(verdict)

    async def judged(self) -> list[int]:
        return list(await asyncio.gather(*(judged_count(self.http, p) for p in self.processes)))

    def cpu_total(self) -> float:
        """The replicas' CPU seconds so far (user + system)."""
        return sum(cpu_seconds(p.process.pid) or 0.0 for p in self.processes if p.process)

    async def warm_up(self) -> None:
        """A decision per account, wave after wave, until every replica has judged one (the group has
        settled, each replica holds its partitions) and a whole wave was approved (the snapshots and
        marks are in place: topics have no order between them)."""
        for wave in range(60):
            ids = [f"warm-{wave}-{account}" for account in self.accounts]
            await self.send((topics.DECISIONS, decision(qty=1, account=account, decision_id=decision_id))
                            for account, decision_id in zip(self.accounts, ids, strict=True))
            await self.collect(len(self.verdicts) + len(ids), 60)
            approved = all(self.verdicts[i][0].client_order_id is not None for i in ids)
            if approved and all(await self.judged()):
                return
        raise TimeoutError(f"the replicas did not all judge and approve a wave; logs in {self.log_dir}")

    async def burst(self, count: int) -> ReplicaRun:
        """``count`` decisions at once, round-robin over the accounts and the symbols, timed to the last verdict."""
        judged_before, cpu_before, warm = await self.judged(), self.cpu_total(), len(self.verdicts)
        payloads = [decision(qty=1, account=self.accounts[i % len(self.accounts)], symbol=SYMBOLS[i % len(SYMBOLS)],
                             decision_id=f"burst-{i}") for i in range(count)]
        started = time.perf_counter()
        await self.send((topics.DECISIONS, payload) for payload in payloads)
        await self.collect(warm + count, 300)
        elapsed = time.perf_counter() - started
        cpu = self.cpu_total() - cpu_before
        judged = [after - before for before, after in zip(judged_before, await self.judged(), strict=True)]
        twice = [d for d, seen in self.verdicts.items() if len({(v.outcome, v.client_order_id) for v in seen}) > 1]
        if twice:
            raise AssertionError(f"decisions judged two ways: {twice[:5]}")
        approved = sum(1 for p in payloads if self.verdicts[p.decision_id][0].client_order_id is not None)
        return ReplicaRun(len(self.processes), len(self.accounts), count, count / elapsed, 1000 * cpu / count,
                          judged, approved)


async def run_replicas(bootstrap: str, admin_url: str, log_dir: Path, *, replicas: int, accounts: int,
                       burst: int) -> ReplicaRun:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, db_name)
    names = await create_topics_for(bootstrap, prefix, *SPECS, partitions=replicas)
    owned = even_accounts(accounts)
    bench = ReplicaBench(bootstrap, prefix, database_url, log_dir, replicas=replicas, accounts=owned)
    try:
        await bench.start()
        await bench.send(opening(owned, SYMBOLS))
        await bench.warm_up()
        return await bench.burst(burst)
    finally:
        await bench.stop()
        try:
            await delete_topics(bootstrap, names)
        finally:
            await drop_database(admin_url, db_name)
