"""Approved order -> paper ``fill`` trade update latency, through a real Tansu broker and Postgres.

Starts an embedded stack, runs the execution-router in-process with the paper venue, sends N market
orders one at a time (each waits for its fill before the next) and prints p50/p95/max in ms.

    uv run python services/execution-router/bench/paper_latency.py [N]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.enums import OrderType, Side, TradingState
from torghut_contracts.models import ApprovedOrder, ControlCommand, TaSignal
from torghut_embedded.kafka import create_test_topics
from torghut_embedded.stack import EmbeddedStack
from torghut_execution_router.app import build_service
from torghut_execution_router.settings import ExecutionRouterSettings
from torghut_runtime.testing import test_settings
from torghut_runtime.tracing import build_tracer_provider


async def main(n: int, bootstrap: str, database_url: str) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    specs = (topics.ORDERS_APPROVED, topics.CONTROL, topics.TA_SIGNALS, topics.TRADE_UPDATES,
             topics.ACCOUNT_SNAPSHOTS)
    names = [prefix + s.name for s in specs]
    await create_test_topics(bootstrap, names + [x + ".dlq" for x in names])
    settings = test_settings(ExecutionRouterSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="execution-router", outbox_poll_ms=20,
                             snapshot_interval_s=3600.0, log_level="WARNING")
    service = build_service(settings, tracer_provider=build_tracer_provider("bench", None), configure_logs=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(prefix + topics.TRADE_UPDATES.name, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", fetch_max_wait_ms=5)
    async with service.runtime.running():
        await producer.start()
        await consumer.start()
        now = datetime.now(UTC)
        command = ControlCommand(command_id="bench", scope="global", kill_switch=False,
                                 trading_state=TradingState.ACTIVE, issued_at=now)
        await producer.send_and_wait(prefix + topics.CONTROL.name, command.model_dump_json().encode(), key=b"global")
        price = TaSignal(symbol="NVDA", event_ts=now, seq=1, price=Decimal(100))
        await producer.send_and_wait(prefix + topics.TA_SIGNALS.name, price.model_dump_json().encode(), key=b"NVDA")
        for _ in range(600):  # up to 30 s for the control command to be applied
            if await service.store.control_commands():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the first price land before timing
        latencies = []
        for i in range(n):
            order = ApprovedOrder(client_order_id=f"bench-{uuid.uuid4().hex[:20]}", decision_id=f"d{i}",
                                  request_id=f"r{i}", account="paper-main", symbol="NVDA", side=Side.BUY,
                                  qty=Decimal(1), order_type=OrderType.MARKET, reference_price=Decimal(100),
                                  max_slippage_bps=Decimal(25), approved_at=datetime.now(UTC))
            started = time.perf_counter()
            await producer.send_and_wait(prefix + topics.ORDERS_APPROVED.name, order.model_dump_json().encode(),
                                         key=b"paper-main")
            done = False
            while not done:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        update = topics.TRADE_UPDATES.decode(record.value or b"")
                        if update.order.client_order_id == order.client_order_id and update.event.value == "fill":
                            done = True
            latencies.append((time.perf_counter() - started) * 1000)
        await consumer.stop()
        await producer.stop()
    latencies.sort()
    print(f"orders={n} approved->fill ms: p50={statistics.median(latencies):.1f} "
          f"p95={latencies[int(0.95 * (n - 1))]:.1f} max={latencies[-1]:.1f}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    data_dir = Path(tempfile.mkdtemp(prefix="torghut-execution-router-bench-"))
    stack = EmbeddedStack(data_dir)
    stack.start()
    try:
        asyncio.run(main(count, stack.kafka_bootstrap, stack.database_url))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
