"""Benchmark: signals per second through signal-trigger vs a bare aiokafka passthrough, same broker.

    uv run python bench/signal_trigger.py [--signals 3000] [--mode replay|live] [--json]

Starts its own EmbeddedStack (Tansu + Postgres) unless given one through :func:`run`. The same
pre-produced signals are read three times, each by its own consumer group:

* **signal-trigger**: the real service (runtime wiring, one Postgres transaction per fetched batch
  (up to KAFKA_MAX_BATCH signals) holding the processed-message records, the changed symbol states
  (one conditional statement) and the replay watermark (one more), default strategy book, triggers
  published before the offsets are committed);
* **runtime floor**: the same ServiceRuntime wiring with a handler that does nothing: what the shared
  runtime (FastStream, one Postgres transaction with the processed-message records per batch,
  commit after publish) costs before signal-trigger does anything;
* **passthrough, per record**: aiokafka consume -> produce (wait for the ack) -> commit, one record at
  a time: the same delivery rule the service follows, with no work in between;
* **passthrough, batched**: aiokafka getmany -> produce the batch -> wait for all acks -> commit once
  per batch: what the transport alone can do when delivery is amortised over a batch.

Throughput is measured from the first record handled to the last, so group joins and start-up are
excluded. The headline ratio is service / per-record passthrough (target >= 0.5); the ratio against
the batched passthrough is printed too. Timing lives here, never in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack
from torghut_runtime import Inbound, Outgoing, ServiceRuntime, ServiceSettings
from torghut_runtime.testing import test_settings
from torghut_signal_trigger.app import MIGRATIONS, build_service
from torghut_signal_trigger.settings import SignalTriggerSettings
from torghut_strategies.testing import T0, make_signal

from .stats import rate_until

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD", "NFLX", "AVGO")
DEFAULT_SIGNALS = 3000


def signal_payloads(count: int, start: datetime = T0) -> list[tuple[str, bytes]]:
    """(key, JSON) of ``count`` signals over ten symbols, one per second each; MACD flips every 10 seqs."""
    out = []
    for index in range(count):
        symbol = SYMBOLS[index % len(SYMBOLS)]
        seq = index // len(SYMBOLS) + 1
        macd = Decimal("0.4") if (seq // 10) % 2 else Decimal("-0.4")
        signal = make_signal(seq, symbol=symbol, at=start + timedelta(seconds=seq), macd=macd,
                             rsi14=Decimal(45 + seq % 10))
        out.append((symbol, signal.model_dump_json().encode()))
    return out


async def produce_all(bootstrap: str, topic: str, payloads: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key.encode()) for key, value in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def measure_service(bootstrap: str, database_url: str, prefix: str, total: int, mode: str) -> float:
    settings = test_settings(SignalTriggerSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="signal-trigger-bench",
                             clock="event" if mode == "replay" else "wall",
                             log_level="WARNING")
    service = build_service(settings, configure_logs=False)
    evaluated = service.metrics.signals.labels(source="kafka")

    def progress() -> int:
        return int(evaluated._value.get())

    async with service.runtime.running():
        return await rate_until(progress, total, timeout=600)


async def measure_runtime_floor(bootstrap: str, database_url: str, prefix: str, total: int, *,
                                batched: bool) -> float:
    """Signals per second through the runtime with a handler that does nothing: batched (as
    signal-trigger consumes) or one record per transaction (as decisions and orders are)."""
    settings = test_settings(ServiceSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="runtime-floor-bench", log_level="WARNING")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)
    handled = 0

    async def nothing(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        nonlocal handled
        handled += 1
        return []

    runtime.consume(topics.TA_SIGNALS, nothing, batch=settings.kafka_max_batch if batched else None)
    async with runtime.running():
        return await rate_until(lambda: handled, total, timeout=600)


async def passthrough(bootstrap: str, source: str, sink: str, total: int, *, batched: bool) -> float:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex[:8]}",
                                enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=1000,
                                heartbeat_interval_ms=200, fetch_max_wait_ms=20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await consumer.start()
    await producer.start()
    handled = 0

    async def pump() -> None:
        nonlocal handled
        while handled < total:
            if batched:
                batch = await consumer.getmany(timeout_ms=100, max_records=500)
                records = [r for items in batch.values() for r in items]
                futures = [await producer.send(sink, r.value, key=r.key, headers=r.headers) for r in records]
                await asyncio.gather(*futures)
                if records:
                    await consumer.commit()
                handled += len(records)
            else:
                record = await consumer.getone()
                await producer.send_and_wait(sink, record.value, key=record.key, headers=record.headers)
                await consumer.commit()
                handled += 1

    task = asyncio.create_task(pump())
    try:
        return await rate_until(lambda: handled, total, timeout=600)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()


async def _run(bootstrap: str, admin_url: str, total: int, mode: str) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    signals_topic = prefix + topics.TA_SIGNALS.name
    names = [signals_topic, prefix + topics.TRIGGERS.name, prefix + "bench.passthrough.v1",
             prefix + "bench.passthrough-batched.v1"]
    await create_test_topics(bootstrap, names + [n + ".dlq" for n in names[:2]])
    database = f"bench_{uuid.uuid4().hex[:10]}"
    database_url = await create_database(admin_url, database)
    try:
        # live: stamped just now, so the wall-clock staleness gate passes; replay: a fixed session day.
        start = datetime.now(UTC) - timedelta(seconds=total // len(SYMBOLS)) if mode == "live" else T0
        await produce_all(bootstrap, signals_topic, signal_payloads(total, start))
        service = await measure_service(bootstrap, database_url, prefix, total, mode)
        floor = await measure_runtime_floor(bootstrap, database_url, prefix, total, batched=True)
        per_record = await passthrough(bootstrap, signals_topic, names[2], total, batched=False)
        batched = await passthrough(bootstrap, signals_topic, names[3], total, batched=True)
    finally:
        await drop_database(admin_url, database)
        await delete_topics(bootstrap, names + [n + ".dlq" for n in names[:2]])
    return {
        "benchmark": "signal_trigger",
        "signals": total,
        "mode": mode,
        "service_signals_per_s": round(service, 1),
        "runtime_floor_per_s": round(floor, 1),
        "passthrough_per_record_per_s": round(per_record, 1),
        "passthrough_batched_per_s": round(batched, 1),
        "ratio": round(service / per_record, 3),
        "ratio_vs_batched": round(service / batched, 3),
        "runtime_floor_ratio": round(floor / per_record, 3),
        "target_ratio": 0.5,
        "meets_target": service / per_record >= 0.5,
    }


def run(stack: EmbeddedStack, *, signals: int = DEFAULT_SIGNALS, mode: str = "replay") -> dict[str, Any]:
    """Run the benchmark on a started stack; returns the figures (for ``make bench`` to aggregate).

    Synchronous (it runs its own event loop): call it from plain code, not from inside a loop.
    ``mode`` replay runs the service with ``CLOCK=event`` (it also keeps the stream watermark in Postgres),
    live with ``CLOCK=wall``.
    """
    return asyncio.run(_run(stack.kafka_bootstrap, stack.database_url, signals, mode))


def report(figures: dict[str, Any]) -> str:
    return "\n".join([
        f"signal-trigger benchmark ({figures['signals']} signals, {figures['mode']} mode, same Tansu broker)",
        f"  signal-trigger service          {figures['service_signals_per_s']:>10,.1f} signals/s",
        f"  runtime floor (no-op handler)   {figures['runtime_floor_per_s']:>10,.1f} records/s",
        f"  aiokafka passthrough per record {figures['passthrough_per_record_per_s']:>10,.1f} records/s",
        f"  aiokafka passthrough batched    {figures['passthrough_batched_per_s']:>10,.1f} records/s",
        f"  ratio service / per-record      {figures['ratio']:>10.3f}   (target >= {figures['target_ratio']}: "
        f"{'met' if figures['meets_target'] else 'NOT met'})",
        f"  ratio service / batched         {figures['ratio_vs_batched']:>10.3f}",
        f"  ratio runtime floor / per-record{figures['runtime_floor_ratio']:>10.3f}   (the shared runtime's ceiling)",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--signals", type=int, default=DEFAULT_SIGNALS)
    parser.add_argument("--mode", choices=("replay", "live"), default="replay")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torghut-bench-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        figures = run(stack, signals=args.signals, mode=args.mode)
    print(report(figures))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
