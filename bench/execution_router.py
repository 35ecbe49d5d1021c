"""Benchmark: the execution-router alone, in this process, on the same broker and Postgres.

* **price updates**: signals pre-produced on ``torghut.ta.signals.v1`` (the paper venue's prices),
  then counted as the router's batched consumer handles them;
* **orders to fills**: market orders for one share pre-produced on ``torghut.orders.approved.v1``,
  counted as their ``fill`` trade updates appear (claim, paper submission, fill, outbox publish).

Rates run from the first record handled to the last, so start-up and the group join are left
out. The service runs with its shipped defaults (outbox poll, batch size) and the fast group-join
settings the tests use; the venue is the built-in paper venue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.enums import OrderType, Side, TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import ApprovedOrder, ControlCommand, TaSignal
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack
from torghut_execution_router.app import build_service
from torghut_execution_router.settings import ExecutionRouterSettings
from torghut_runtime.testing import test_settings
from torghut_runtime.tracing import build_tracer_provider

from .observe import Observer
from .stats import rate_until

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD", "NFLX", "AVGO")


def _fill_of(_topic: str, _headers: dict[str, str], value: bytes) -> str | None:
    update = json.loads(value)
    return str(update["order"]["client_order_id"]) if update.get("event") == "fill" else None


async def _produce(producer: AIOKafkaProducer, topic: str, items: list[tuple[str, Any]], spec: Any) -> None:
    futures = [await producer.send(topic, spec.encode(message), key=key.encode(),
                                   headers=MessageHeaders.new(spec.name).as_kafka()) for key, message in items]
    await asyncio.gather(*futures)


async def _bench(bootstrap: str, admin_url: str, signals: int, orders: int) -> dict[str, Any]:
    prefix = f"benchrt{uuid.uuid4().hex[:6]}."
    specs = (topics.ORDERS_APPROVED, topics.CONTROL, topics.TA_SIGNALS, topics.TRADE_UPDATES,
             topics.ACCOUNT_SNAPSHOTS)
    names = [prefix + s.name for s in specs]
    await create_test_topics(bootstrap, names + [n + ".dlq" for n in names])
    database = f"bench_rt_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, database)
    settings = test_settings(ExecutionRouterSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="execution-router", log_level="WARNING",
                             execution_primary_adapter="paper", execution_max_order_age_s=0)
    service = build_service(settings, tracer_provider=build_tracer_provider("bench", None), configure_logs=False)
    processed = service.runtime.metrics.messages.labels(topic=topics.TA_SIGNALS.name, outcome="processed")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    fills = Observer(bootstrap, [prefix + topics.TRADE_UPDATES.name], _fill_of)
    now = datetime.now(UTC)
    prices = [(SYMBOLS[i % len(SYMBOLS)], TaSignal(symbol=SYMBOLS[i % len(SYMBOLS)], event_ts=now,
                                                   seq=i // len(SYMBOLS) + 1, price=Decimal(100)))
              for i in range(signals)]
    try:
        await producer.start()
        await _produce(producer, prefix + topics.TA_SIGNALS.name, prices, topics.TA_SIGNALS)
        await _produce(producer, prefix + topics.CONTROL.name, [("global", ControlCommand(
            command_id="bench-open", scope="global", kill_switch=False, trading_state=TradingState.ACTIVE,
            issued_at=now))], topics.CONTROL)
        async with service.runtime.running():
            signals_per_s = await rate_until(lambda: int(processed._value.get()), signals, timeout=300)
            await fills.start()
            approved = [("paper-main", ApprovedOrder(
                client_order_id=f"bench-{uuid.uuid4().hex[:20]}", decision_id=f"d{i}", request_id=f"r{i}",
                account="paper-main", symbol=SYMBOLS[i % len(SYMBOLS)], side=Side.BUY, qty=Decimal(1),
                order_type=OrderType.MARKET, reference_price=Decimal(100), max_slippage_bps=Decimal(25),
                approved_at=datetime.now(UTC))) for i in range(orders)]
            await _produce(producer, prefix + topics.ORDERS_APPROVED.name, approved, topics.ORDERS_APPROVED)
            fills_per_s = await rate_until(lambda: len(fills.arrivals), orders, timeout=300)
    finally:
        await fills.stop()
        await producer.stop()
        try:
            await delete_topics(bootstrap, names + [n + ".dlq" for n in names])
        finally:
            await drop_database(admin_url, database)
    return {"signals": signals, "signals_per_s": round(signals_per_s, 1),
            "orders": orders, "fills_per_s": round(fills_per_s, 1),
            "outbox_poll_ms": settings.outbox_poll_ms}


def run(bootstrap: str, admin_url: str, *, signals: int = 30_000, orders: int = 200) -> dict[str, Any]:
    """Run both parts on a started stack (synchronous: it runs its own event loop)."""
    return asyncio.run(_bench(bootstrap, admin_url, signals, orders))


def main() -> None:
    """Alone, on a stack of its own, ``--rounds`` times: alternate two trees' rounds to A/B a change."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--signals", type=int, default=30_000, help="prices on the topic before the start")
    parser.add_argument("--orders", type=int, default=900,
                        help="approved orders of one share at $100 (the paper account's $100,000 allows ~999)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torghut-bench-rt-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        for _ in range(args.rounds):
            figures = run(stack.kafka_bootstrap, stack.database_url, signals=args.signals, orders=args.orders)
            print(f"execution-router: {figures['signals_per_s']:>8,.1f} price signals/s ({args.signals}), "
                  f"{figures['fills_per_s']:>6,.1f} orders -> fills/s ({args.orders})", flush=True)


if __name__ == "__main__":
    main()
