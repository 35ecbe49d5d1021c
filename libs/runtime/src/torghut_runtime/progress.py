"""Has this service handled everything on a topic yet? Asked of the broker, not of memory.

Each topic has its own consumer, and a fetch from one says nothing about another, so a record acting
on state (an approved order) can be handled before the state written ahead of it (the operator's
control command) was read. A handler about to refuse on that state asks :class:`ReadProgress` first:
"has my consumer of the control topic committed up to the topic's end, as of now?" and waits a
bounded time for it. Committed offsets (committed only after a handler's transaction) answer it, so
the state read next from the database includes every record that was on the topic when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

log = structlog.get_logger("torghut.kafka")


class ReadProgress:
    """Compares a consumer group's committed offsets with the topic's end, one probe client per group.

    A probe client never subscribes, so it never joins (or rebalances) the group it asks about.
    """

    def __init__(self, bootstrap_servers: str, *, start_at_earliest: bool) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.start_at_earliest = start_at_earliest
        """Where a group with no committed offset starts (``KAFKA_AUTO_OFFSET_RESET``): from the
        beginning it has everything left to read; from the end, nothing."""
        self._probes: dict[str, AIOKafkaConsumer] = {}
        self._lock = asyncio.Lock()

    async def _probe(self, group: str) -> AIOKafkaConsumer:
        async with self._lock:
            probe = self._probes.get(group)
            if probe is None:
                probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers, group_id=group,
                                         enable_auto_commit=False, request_timeout_ms=10_000)
                try:
                    await probe.start()
                except BaseException:
                    await probe.stop()
                    raise
                self._probes[group] = probe
            return probe

    async def _partitions(self, probe: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
        partitions = probe.partitions_for_topic(topic)
        if not partitions:
            await probe.topics()  # refreshes metadata
            partitions = probe.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    async def _unread(self, probe: AIOKafkaConsumer, targets: Mapping[TopicPartition, int],
                      starts: Mapping[TopicPartition, int]) -> dict[int, int]:
        unread = {}
        for tp, target in targets.items():
            committed = await probe.committed(tp)
            position = committed if committed is not None else starts[tp]
            if target > position:
                unread[tp.partition] = target - position
        return unread

    async def read_through(self, topic: str, group: str, *, timeout_s: float, poll_s: float = 0.02) -> bool:
        """Wait until ``group`` has committed every record that is on ``topic`` now; False on timeout.

        A broker that cannot be asked counts as not read through: the caller then acts on the state it
        has, which for a refusal is the fail-closed choice.
        """
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            probe = await self._probe(group)
            tps = await self._partitions(probe, topic)
            targets = await probe.end_offsets(tps) if tps else {}
            starts = await probe.beginning_offsets(tps) if tps and self.start_at_earliest else targets
            while unread := await self._unread(probe, targets, starts):
                if asyncio.get_running_loop().time() >= deadline:
                    log.warning("consumer not read through in time", topic=topic, group=group, unread=unread,
                                timeout_s=timeout_s)
                    return False
                await asyncio.sleep(poll_s)
        except Exception as exc:
            log.warning("could not ask the broker how far a consumer read", topic=topic, group=group,
                        error=repr(exc))
            return False
        return True

    async def close(self) -> None:
        probes, self._probes = self._probes, {}
        for probe in probes.values():
            await probe.stop()
