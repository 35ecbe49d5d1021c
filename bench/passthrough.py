"""A bare aiokafka passthrough process: the transport's floor for one service hop.

    python -m bench.passthrough --bootstrap HOST:PORT --source A --sink B --group G [--fetch-max-wait-ms 20]

It follows the delivery rule every Torghut service follows (consume one record, produce it to the
sink and wait for the acknowledgement, then commit the offset) and does nothing else: no decoding,
no database, no tracing. A chain of these, one OS process each like the services, is the baseline
the real pipeline is compared with. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def pump(bootstrap: str, source: str, sink: str, group: str, fetch_max_wait_ms: int) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=1000, heartbeat_interval_ms=200,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()

    async def forward() -> None:
        while True:
            record = await consumer.getone()
            await producer.send_and_wait(sink, record.value, key=record.key, headers=list(record.headers))
            await consumer.commit()

    task = asyncio.create_task(forward())
    try:
        await stop.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(pump(args.bootstrap, args.source, args.sink, args.group, args.fetch_max_wait_ms))


if __name__ == "__main__":
    main()
