"""Reading a ``kafka://`` window: the topic's records in replay-dump order, validated like a file.

The URL form is described in :mod:`.remote_sources`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any, TypeVar

from torghut_contracts import headers as h
from torghut_contracts import topics

from .errors import InputError
from .remote_clients import one_line, quiet
from .remote_windows import KafkaWindow
from .signals import REPLAY_HEADER, Inbound, SignalSet, build_signal_set, merge_partitions

T = TypeVar("T")
#: Connecting to the broker fails after this long (an unreachable host); the ClickHouse reader bounds
#: its own connect at 5 s.
CONNECT_TIMEOUT_S = 5.0


def read_kafka(window: KafkaWindow) -> SignalSet:
    """The window's records in dump order, through :func:`build_signal_set` like any file."""
    with quiet("aiokafka"):
        partitions = _run(_kafka_partitions(window))
    return build_signal_set(window.url, merge_partitions(partitions))


async def _kafka_partitions(window: KafkaWindow) -> dict[tuple[str, int], list[tuple[int, int, Inbound]]]:
    from aiokafka.errors import KafkaError
    from torghut_runtime.topic_window import Window, WindowReadError, read_window, to_ms

    span = Window(since_ms=to_ms(window.since) if window.since else None,
                  until_ms=to_ms(window.until) if window.until else None)
    partitions: dict[tuple[str, int], list[tuple[int, int, Inbound]]] = {}
    records = read_window(window.bootstrap, window.topic, span, connect_timeout_s=CONNECT_TIMEOUT_S)
    try:
        async with aclosing(records):  # a bad record stops the read: the consumer closes at once
            async for record in records:
                declared = record.headers.get(h.SCHEMA)
                if declared is not None and declared != topics.TA_SIGNALS.name:
                    # What the live consumer dead-letters as schema_mismatch: never read as a signal.
                    raise InputError(f"{record.topic}:{record.partition}:{record.offset}: {h.SCHEMA} "
                                     f"{declared[:200]!r} is not {topics.TA_SIGNALS.name!r}")
                inbound = Inbound(f"{record.topic}:{record.partition}", record.offset, record.value,
                                  record.timestamp_ms, replayed=REPLAY_HEADER in record.headers)
                partitions.setdefault((record.topic, record.partition), []).append((record.offset, 0, inbound))
    except WindowReadError as exc:
        raise InputError(f"{window.url}: {exc}") from None
    except (KafkaError, OSError) as exc:
        raise InputError(f"{window.url}: Kafka read failed: {one_line(exc)}") from None
    return partitions


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="torghut-research-kafka") as pool:
        return pool.submit(asyncio.run, coro).result()
