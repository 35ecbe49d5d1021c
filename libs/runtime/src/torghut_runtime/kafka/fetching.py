"""The fetch loop: whatever one fetch brings, handed to the lanes in one call, blocking while idle.

FastStream declares the subscriber and owns its consumer (group, rebalance listener, start and
stop with the broker); the subscriber has no FastStream handler, so FastStream runs no consume
loop for it, and this loop reads the consumer with aiokafka's ``getmany``. Why not FastStream's
own loop (docs/performance.md, "The fetch path", measured on this machine):

* its per-record subscriber (``getone`` and the consume path per record) cost 163-206 us of CPU
  per record against 10-12 us for a batch handed over whole;
* its batch subscriber sleeps ``batch_timeout_ms`` after every empty fetch, so a record arriving
  during the sleep waits for it: at 5 ms the idle CPU doubled (3.2 -> 6.0-6.9 %) and p50 rose by
  about a millisecond per hop, at 20 ms p95 went from 8 to 24 ms.

``getmany`` returns the moment a record is fetched, so this loop needs no sleep: only an empty
answer that came back early (a rebalance) waits out the rest of the fetch wait, so nothing spins.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import structlog
from aiokafka.errors import ConsumerStoppedError, KafkaError

from ..lanes import RecordLanes

log = structlog.get_logger("torghut.kafka")
FETCH_WAIT_MS = 1000
"""How long one ``getmany`` waits for records while idle; it returns as soon as one is fetched."""
KAFKA_ERROR_BACKOFF_S = 5.0


class FetchLoop:
    def __init__(self, name: str, subscriber: Any, lanes: RecordLanes, max_records: int) -> None:
        self.name = name
        self.subscriber = subscriber
        """A FastStream Kafka subscriber with no handler: started by the broker, read here."""
        self.lanes = lanes
        self.max_records = max_records
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"fetch {self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def crashed(self) -> bool:
        """The loop ended by an unexpected error: nothing is fetched until the service restarts."""
        task = self._task
        return task is not None and task.done() and not task.cancelled() and task.exception() is not None

    async def _run(self) -> None:
        consumer = self.subscriber.consumer
        while True:
            started = time.monotonic()
            try:
                fetched = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=self.max_records)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.error("kafka error while fetching; retrying", consumer=self.name, error=repr(exc))
                await asyncio.sleep(KAFKA_ERROR_BACKOFF_S)
                continue
            if fetched:
                self.lanes.accept(itertools.chain.from_iterable(fetched.values()), consumer)
            else:
                await asyncio.sleep(max(0.0, FETCH_WAIT_MS / 1000 - (time.monotonic() - started)))
