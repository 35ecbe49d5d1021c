"""Every ``<topic>.dlq`` read and counted, with the latest reason, exactly once.

Dead letters are raw records (the bytes that could not be handled, the why in headers), so they
are read with a plain consumer rather than the runtime's typed subscribers. The reader keeps its
own position in the read model, written in the transaction that counts what it read: a crash
between the two cannot count a dead letter twice or skip one, and of two replicas reading the same
dead letters only the first to take the lock counts them. A dead-letter topic that does not
exist yet is looked for again every ``RESCAN_S``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import headers as h

from . import store

log = structlog.get_logger("torghut.console.dead_letters")
RESCAN_S = 10.0


def tally(records: list[Any]) -> dict[str, dict[str, Any]]:
    """Per dead-letter topic: how many records, and the reason, error and consumer of the latest."""
    counts: dict[str, dict[str, Any]] = {}
    for record in records:
        headers = h.header_dict(record.headers)
        seen = counts.setdefault(record.topic, {"seen": 0})
        seen.update(seen=seen["seen"] + 1, last_reason=headers.get(h.DLQ_REASON, "unknown"),
                    last_error=headers.get(h.DLQ_ERROR, "")[:500], last_consumer=headers.get(h.DLQ_CONSUMER, ""),
                    last_at=datetime.fromtimestamp(record.timestamp / 1000, UTC))
    return counts


class DeadLetterReader:
    def __init__(self, engine: AsyncEngine, bootstrap: str, topics: list[str]) -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.topics = topics

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=500)
        await consumer.start()
        try:
            assigned: set[TopicPartition] = set()
            scanned = 0.0
            while True:
                if time.monotonic() - scanned > RESCAN_S:
                    assigned = await self._assign(consumer, assigned)
                    scanned = time.monotonic()
                if not assigned:
                    await asyncio.sleep(1.0)
                    continue
                batch = await consumer.getmany(timeout_ms=1000, max_records=500)
                records = [record for part in batch.values() for record in part]
                if records:
                    await self.count(records, {(tp.topic, tp.partition): part[-1].offset + 1
                                                 for tp, part in batch.items() if part})
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> set[TopicPartition]:
        await consumer.topics()  # refresh the metadata: a dead-letter topic may have been created since
        found = {TopicPartition(topic, p) for topic in self.topics
                 for p in (consumer.partitions_for_topic(topic) or ())}
        if found == assigned:
            return assigned
        async with self.engine.connect() as conn:
            positions = await store.dead_letter_positions(conn)
        consumer.assign(sorted(found))
        for tp in found:
            offset = positions.get((tp.topic, tp.partition))
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        log.info("reading dead-letter topics", partitions=len(found))
        return found

    async def count(self, records: list[Any], next_offsets: dict[tuple[str, int], int]) -> None:
        """Count a batch read from the dead-letter topics: of its records, those no replica has counted yet.

        Every replica reads every dead letter, but under the lock only those at or past the stored
        position are counted, and the position moves past them."""
        async with self.engine.begin() as conn:
            await store.lock_dead_letters(conn)
            counted = await store.dead_letter_positions(conn)
            fresh = [r for r in records if r.offset >= counted.get((r.topic, r.partition), 0)]
            if not fresh:
                return
            await store.record_dead_letters(conn, tally(fresh), {
                tp: offset for tp, offset in next_offsets.items() if offset > counted.get(tp, 0)})
            await store.notify(conn, ["pipeline"])
