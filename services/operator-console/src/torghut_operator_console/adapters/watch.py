"""What the console learns by asking: each service's readiness, each consumer group's lag, the broker.

Read every ``CONSOLE_POLL_INTERVAL_S`` and kept in memory (it is the present, not history). Lag is
the sum over a group's partitions of the end offset less the committed one, for the groups whose
name starts with the service's name (the runtime names them ``<prefix><service>.<...>``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from torghut_contracts.topics import ALL_TOPICS

log = structlog.get_logger("torghut.console.watch")
RATE_WINDOW_S = 10.0


@dataclass
class ServiceState:
    name: str
    url: str
    ready: bool | None = None
    detail: str = "not asked yet"
    lag: int | None = None


class ServiceWatch:
    def __init__(self, services: dict[str, str], bootstrap: str, topic_prefix: str, interval_s: float,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.topics = [topic_prefix + spec.name for spec in ALL_TOPICS]
        self._services = {name: ServiceState(name, url) for name, url in services.items()}
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.interval_s = interval_s
        self.on_change = on_change
        self.broker_up: bool | None = None
        self._samples: deque[tuple[float, dict[str, int]]] = deque()
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    def services(self) -> list[ServiceState]:
        return list(self._services.values())

    # -- rates, from the counts the pipeline panel reads ---------------------------------------
    def sample_counts(self, counts: dict[str, int], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, counts))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()

    def rate(self, stage: str) -> float | None:
        """Messages per second over about the last ten seconds; None until two samples exist."""
        if len(self._samples) < 2:
            return None
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.5:
            return None
        return (last.get(stage, 0) - first.get(stage, 0)) / (t1 - t0)

    # -- polling ------------------------------------------------------------------------------
    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=min(self.interval_s, 2.0)) as client:
            while True:
                await asyncio.gather(self._poll_health(client), self._poll_lag())
                self.on_change()
                await asyncio.sleep(self.interval_s)

    async def _poll_health(self, client: httpx.AsyncClient) -> None:
        async def ask(state: ServiceState) -> None:
            try:
                response = await client.get(state.url + "/readyz")
                state.ready = response.status_code == 200
                checks = response.json().get("checks", {}) if response.headers.get("content-type", "").startswith(
                    "application/json") else {}
                failing = [name for name, ok in checks.items() if not ok]
                state.detail = "ready" if state.ready else f"not ready: {', '.join(failing) or response.status_code}"
            except (httpx.HTTPError, ValueError) as exc:
                state.ready, state.detail = False, f"unreachable: {type(exc).__name__}"
        await asyncio.gather(*(ask(state) for state in self._services.values()))

    async def _poll_lag(self) -> None:
        try:
            if self._clients is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                self._clients = (admin, consumer)
                await admin.start()
                await consumer.start()
            admin, consumer = self._clients
            groups = [g[0] for g in await admin.list_consumer_groups()]
            await consumer.topics()  # refresh the metadata
            partitions = [TopicPartition(topic, p) for topic in self.topics
                          for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            for state in self._services.values():
                state.lag = await self._lag_of(admin, ends, [
                    g for g in groups if g.startswith(f"{self.topic_prefix}{state.name}.")])
            self.broker_up = True
        except Exception as exc:  # the broker away is a state to show, not a crash: asked again next round
            if self.broker_up is not False:
                log.warning("broker unreachable", error=repr(exc))
            self.broker_up = False
            for state in self._services.values():
                state.lag = None
            await self.close()

    async def close(self) -> None:
        clients, self._clients = self._clients, None
        if clients is not None:
            await asyncio.gather(clients[0].close(), clients[1].stop(), return_exceptions=True)

    @staticmethod
    async def _lag_of(admin: AIOKafkaAdminClient, ends: dict[TopicPartition, int], groups: list[str]) -> int | None:
        """Summed over the groups' partitions that have a committed offset. The partitions are named
        (every pipeline topic's): asking for "all of the group's" is an OffsetFetch some brokers
        (Tansu) cannot answer."""
        if not groups or not ends:
            return None
        lag = 0
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            lag += sum(max(0, ends[tp] - meta.offset) for tp, meta in committed.items()
                       if meta.offset >= 0 and tp in ends)
        return lag
