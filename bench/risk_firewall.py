"""Benchmark: the risk firewall's pure core (evaluations per second) and verdict latency through the broker.

    uv run python bench/risk_firewall.py [--evaluations 30000] [--decisions 200] [--json]

* **Core**: ``evaluate_order`` on one core (one Python thread), over a mix of decisions that
  approve, clamp and veto, against an account with eight positions and four open orders (so the
  exposure sums do real work). Every evaluation runs every check (~35 of them); the target is at
  least 20,000 evaluations per second.
* **Through the broker**: the real service (runtime wiring, Postgres row lock, stored verdict) on
  an EmbeddedStack (Tansu + Postgres). One decision at a time is produced and the time until its
  verdict is read back is recorded (p50/p95/p99), then a burst of decisions is produced at once to
  measure verdicts per second.

Starts its own EmbeddedStack unless :func:`run` is given one. Timing lives here, never in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, ControlCommand, OrderState, TaSignal, TradeUpdate
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.app import build_runtime
from torghut_risk_firewall.domain.evaluate import evaluate_order
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.domain.state import OpenOrder
from torghut_risk_firewall.settings import RiskFirewallSettings
from torghut_risk_firewall.testing import ACCOUNT, ACTIVE, NOW, decision, market, portfolio
from torghut_runtime.testing import eventually, test_settings
from torghut_runtime.tracing import build_tracer_provider

TARGET_EVALUATIONS_PER_S = 20_000
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD")


# -- the pure core --------------------------------------------------------------------------------
def bench_core(evaluations: int) -> dict[str, Any]:
    positions = {s: (i + 1) * 10 * (-1 if i % 3 == 2 else 1) for i, s in enumerate(SYMBOLS)}
    open_orders = tuple(OpenOrder(f"o{i}", s, Side.BUY, Decimal(5), Decimal(100), True)
                        for i, s in enumerate(SYMBOLS[:4]))
    pf = portfolio(positions=positions, open_orders=open_orders)
    mk = market({s: 100 for s in SYMBOLS}, volume=100_000)
    limits = RiskLimits(allow_shorts=True, cooldown_s=Decimal(0))
    cases = [
        decision("buy", 10, "AAPL", decision_id="approve"),            # passes
        decision("buy", 400, "MSFT", decision_id="clamp"),             # clamped by notional and position
        decision("sell", 20, "AMD", decision_id="reduce"),             # reduces the AMD long
        decision("buy", 10, "NVDA", price=120, decision_id="veto"),    # outside the price collar: veto
    ]
    outcomes = {c.decision_id: evaluate_order(c, pf, ACTIVE, limits, mk, NOW) for c in cases}
    for _ in range(2000):  # warm up
        evaluate_order(cases[0], pf, ACTIVE, limits, mk, NOW)
    rounds = max(1, evaluations // len(cases))
    best_cpu = best_wall = 0.0
    for _ in range(3):  # best of three: the machine is shared
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            for case in cases:
                evaluate_order(case, pf, ACTIVE, limits, mk, NOW)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best_cpu = max(best_cpu, rounds * len(cases) / cpu)
        best_wall = max(best_wall, rounds * len(cases) / wall)
    return {
        "core_evaluations": rounds * len(cases),
        "core_evaluations_per_s": best_cpu,
        "core_evaluations_per_wall_s": best_wall,
        "core_us_per_evaluation": 1e6 / best_cpu,
        "core_target_per_s": TARGET_EVALUATIONS_PER_S,
        "core_meets_target": best_cpu >= TARGET_EVALUATIONS_PER_S,
        "core_mix": {k: ("approve" if v.approved else "veto") + (" (clamped)" if v.clamp else "")
                     for k, v in outcomes.items()},
    }


# -- through the broker -----------------------------------------------------------------------------
async def _released(runtime: Any, coid: str) -> bool:
    async with runtime.engine.connect() as conn:
        state = await store.read_account(conn, ACCOUNT)
    return state is not None and all(o.client_order_id != coid for o in state.open_orders)


def filled(coid: str, n: int) -> TradeUpdate:
    return TradeUpdate(fingerprint=f"{n:064x}", account=ACCOUNT, venue=Adapter.PAPER, event=TradeEvent.FILL,
                       timestamp=NOW, order=OrderState(client_order_id=coid, symbol="AAPL", side=Side.BUY,
                                                       qty=Decimal(1), filled_qty=Decimal(1),
                                                       status=OrderStatus.FILLED),
                       fill_qty=Decimal(1), fill_price=Decimal(100))


def symbol_names(count: int) -> list[str]:
    """``count`` tickers, the eight real ones first (AAPL is the one the latency phase trades)."""
    made = [f"Z{chr(65 + i // 676 % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(max(0, count - 8))]
    return (list(SYMBOLS) + made)[:count]


async def _bench_broker(bootstrap: str, admin_url: str, decisions: int, burst: int,
                        symbols: int = 1) -> dict[str, Any]:
    """``symbols``: how many symbols the burst's decisions are spread over (each with a mark); every
    approval is an open order in its symbol, so the account's symbols of interest grow with it."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, db_name)
    specs = (topics.DECISIONS, topics.CONTROL, topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS, topics.TA_SIGNALS,
             topics.RISK_VERDICTS, topics.ORDERS_APPROVED)
    names = [prefix + s.name for s in specs]
    await create_test_topics(bootstrap, names + [n + ".dlq" for n in names])
    settings = test_settings(RiskFirewallSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="risk-firewall", clock="event",
                             log_level="WARNING",
                             risk_limits=RiskLimits(cooldown_s=Decimal(0), max_orders_per_second=199,
                                                    max_orders_per_minute=199))
    runtime = build_runtime(settings, tracer_provider=build_tracer_provider("bench", None))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await producer.start()
    await consumer.start()
    try:
        verdict_tp = TopicPartition(prefix + topics.RISK_VERDICTS.name, 0)
        consumer.assign([verdict_tp])
        await consumer.seek_to_end(verdict_tp)

        async def send(spec: topics.TopicSpec[Any], message: Any, key: str) -> None:
            headers = MessageHeaders.new(spec.name).as_kafka()
            await producer.send_and_wait(prefix + spec.name, spec.encode(message), key=key.encode(), headers=headers)

        async with runtime.running():
            await send(topics.CONTROL, ControlCommand(command_id="open", scope="global", kill_switch=False,
                                                      trading_state=TradingState.ACTIVE,
                                                      issued_at=NOW - timedelta(hours=1)), "global")
            await send(topics.ACCOUNT_SNAPSHOTS, AccountSnapshot(
                snapshot_id="s", account=ACCOUNT, venue=Adapter.PAPER, as_of=NOW - timedelta(seconds=5),
                equity=Decimal(10_000_000), cash=Decimal(10_000_000), buying_power=Decimal(20_000_000)), ACCOUNT)
            traded = symbol_names(max(1, symbols))
            for name in traded:
                await send(topics.TA_SIGNALS, TaSignal(symbol=name, event_ts=NOW - timedelta(seconds=1), seq=1,
                                                       price=Decimal(100)), name)

            async def ready() -> bool:
                async with runtime.engine.connect() as conn:
                    control = await store.effective_control_for(conn, ACCOUNT)
                    state = await store.read_account(conn, ACCOUNT)
                    marks = await store.market_for(conn, ["AAPL"])
                return not control.kill_switch and state is not None and state.equity is not None \
                    and "AAPL" in marks.marks
            await eventually(ready, timeout=60, what="the firewall to take control, snapshot and signal")

            async def next_verdicts(count: int) -> list[Any]:
                seen: list[Any] = []
                while len(seen) < count:
                    batch = await consumer.getmany(verdict_tp, timeout_ms=1000)
                    seen.extend(topics.RISK_VERDICTS.decode(r.value) for v in batch.values() for r in v)
                return seen

            # warm up (first transactions, connection pool)
            for i in range(5):
                await send(topics.DECISIONS, decision(qty=1, decision_id=f"warm-{i}"), ACCOUNT)
                await next_verdicts(1)

            latencies: list[float] = []
            outcomes: dict[str, int] = {}
            for i in range(decisions):
                started = time.perf_counter()
                await send(topics.DECISIONS, decision(qty=1, decision_id=f"lat-{i}"), ACCOUNT)
                verdict = (await next_verdicts(1))[0]
                latencies.append((time.perf_counter() - started) * 1000)
                outcomes[verdict.outcome.value] = outcomes.get(verdict.outcome.value, 0) + 1
                if verdict.client_order_id is not None:  # the venue fills it (untimed), as in real trading
                    await send(topics.TRADE_UPDATES, filled(verdict.client_order_id, i), ACCOUNT)
                    await eventually(functools.partial(_released, runtime, verdict.client_order_id), timeout=30,
                                     what="the fill")

            payloads = [topics.DECISIONS.encode(decision(qty=1, symbol=traded[i % len(traded)],
                                                         decision_id=f"burst-{i}")) for i in range(burst)]
            started = time.perf_counter()
            for body in payloads:
                await producer.send(prefix + topics.DECISIONS.name, body, key=ACCOUNT.encode(),
                                    headers=MessageHeaders.new(topics.DECISIONS.name).as_kafka())
            await producer.flush()
            await next_verdicts(burst)
            burst_s = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
        try:
            await delete_topics(bootstrap, names + [n + ".dlq" for n in names])
        finally:
            await drop_database(admin_url, db_name)

    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "broker_decisions": decisions,
        "broker_outcomes": outcomes,
        "verdict_latency_ms_p50": statistics.median(ordered),
        "verdict_latency_ms_p95": pct(95),
        "verdict_latency_ms_p99": pct(99),
        "verdict_latency_ms_max": ordered[-1],
        "burst_decisions": burst,
        "burst_symbols": symbols,
        "burst_verdicts_per_s": burst / burst_s,
    }


def run(stack: EmbeddedStack | None = None, *, evaluations: int = 30_000, decisions: int = 200,
        burst: int = 500) -> dict[str, Any]:
    """Run both parts; starts (and stops) its own EmbeddedStack when none is given."""
    figures = bench_core(evaluations)
    if stack is not None:
        figures.update(asyncio.run(_bench_broker(stack.kafka_bootstrap, stack.database_url, decisions, burst)))
        return figures
    with tempfile.TemporaryDirectory(prefix="torghut-bench-") as scratch, EmbeddedStack(Path(scratch)) as own:
        figures.update(asyncio.run(_bench_broker(own.kafka_bootstrap, own.database_url, decisions, burst)))
    return figures


def report(figures: dict[str, Any]) -> str:
    return "\n".join([
        "risk-firewall benchmark",
        f"  core evaluate_order, one core   {figures['core_evaluations_per_s']:>10,.0f} evaluations/s "
        f"({figures['core_us_per_evaluation']:.1f} us each; target >= {figures['core_target_per_s']:,}: "
        f"{'met' if figures['core_meets_target'] else 'NOT met'}); per CPU-second of this process",
        f"{'':34}{figures['core_evaluations_per_wall_s']:>10,.0f} evaluations per wall-clock second "
        f"(lower when other work shares the cores)",
        f"  core mix                        {figures['core_mix']}",
        f"  verdict latency via broker      p50 {figures['verdict_latency_ms_p50']:.1f} ms, "
        f"p95 {figures['verdict_latency_ms_p95']:.1f} ms, p99 {figures['verdict_latency_ms_p99']:.1f} ms, "
        f"max {figures['verdict_latency_ms_max']:.1f} ms",
        f"{'':34}({figures['broker_decisions']} decisions one at a time: "
        f"{figures['broker_outcomes']}; vetoes past the 199/min order-rate limit)",
        f"  burst through the service       {figures['burst_verdicts_per_s']:>10,.1f} verdicts/s "
        f"({figures['burst_decisions']} decisions produced at once)",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--evaluations", type=int, default=30_000)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    figures = run(evaluations=args.evaluations, decisions=args.decisions, burst=args.burst)
    print(report(figures))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
