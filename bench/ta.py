"""Benchmark: ta alone, its own OS process, on the same broker and Postgres (issue #26).

    uv run python -m bench.ta [--symbols 500] [--bars-per-symbol 60] [--samples 50]

* **core**: the pure domain (``admit``, ``screen``, ``apply``: talipp indicators, VWAPs, the
  ``TaSignal`` built and validated) over the same bars, in this process, on one core: what the
  indicators cost before any framework, broker or database does anything. Best of three, on CPU
  time (the machine is shared).
* **bars -> signals**: ``symbols`` x ``bars_per_symbol`` one-minute ``MarketBar`` s (a random walk
  per symbol from the session's open, minute after minute across every symbol, as a live feed
  publishes them, keyed by symbol) are on ``torghut.market.bars.v1`` before the service starts.
  The rate runs from the first signal an observer reads on ``torghut.ta.signals.v1`` to the last,
  so start-up and the group join are left out. Every bar of a batch belongs to another series, so
  each costs a series load and save: the worst case for a per-batch state, and the live one.
  The service's CPU (and Postgres's) per bar, and its handler's mean time per batch, say where the
  time went.
* **bar -> signal latency**: with the service idle and caught up, one bar at a time (each the next
  minute of a series), from the produce to the observer reading its signal (matched by correlation
  id), a short pause between samples. The baseline is the bare one-hop latency of ``bench.bare``.
* **peak RSS** of the process (``VmHWM``) after both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import MarketBar
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack
from torghut_ta.domain.series import Rules, SeriesState, admit, apply, screen

from .observe import Observer
from .procfs import cpu_seconds, cpu_seconds_tree, peak_rss_mb
from .report import Row
from .scrape import mean_ms, snapshot
from .stats import latency_summary

TARGET_BARS_PER_S = 50_000
SESSION_OPEN = datetime(2026, 2, 12, 14, 30, tzinfo=UTC)  # 09:30 New York: the session VWAP is computed
CENT = Decimal("0.01")
LATENCY_WARMUP = 5
LATENCY_PAUSE_S = 0.02


def ticker(i: int) -> str:
    """``TAAA``, ``TAAB``, ...: a distinct valid symbol per series."""
    return "T" + "".join(chr(65 + (i // 26**k) % 26) for k in (2, 1, 0))


def make_bars(symbols: int, minutes: int, seed: int = 26) -> list[MarketBar]:
    """``minutes`` one-minute bars of each symbol, minute after minute (every symbol's bar of a
    minute before the next minute's); each symbol a random walk of about 0.1 % a minute."""
    rng = random.Random(seed)
    last = [20.0 + (i * 37) % 480 for i in range(symbols)]
    out = []
    for minute in range(minutes):
        start = SESSION_OPEN + timedelta(minutes=minute)
        for i in range(symbols):
            open_ = last[i]
            close = max(1.0, open_ * (1 + rng.gauss(0, 0.001)))
            high = max(open_, close) * (1 + abs(rng.gauss(0, 0.0005)))
            low = min(open_, close) * (1 - abs(rng.gauss(0, 0.0005)))
            o, hi, lo, c = (Decimal(v).quantize(CENT) for v in (open_, high, low, close))
            lo, hi = min(lo, o, c), max(hi, o, c)
            out.append(MarketBar(symbol=ticker(i), start=start, open=o, high=hi, low=lo, close=c,
                                 volume=Decimal(rng.randint(500, 20_000)), trade_count=rng.randint(5, 200),
                                 vwap=((hi + lo + c) / 3).quantize(CENT), source="bench"))
            last[i] = float(c)
    return out


def bench_core(bars: list[MarketBar], rounds: int = 3) -> dict[str, Any]:
    """The pure core over ``bars`` (fresh series each round): best bars per CPU second and per wall second."""
    rules = Rules()
    best_cpu = best_wall = 0.0
    for _ in range(rounds):
        states = {bar.symbol: SeriesState(bar.symbol, bar.window) for bar in bars}
        wall, cpu = time.perf_counter(), time.process_time()
        for bar in bars:
            state = states[bar.symbol]
            if admit(bar, rules) is None and screen(state, bar) is None:
                apply(state, bar, None, rules)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best_cpu, best_wall = max(best_cpu, len(bars) / max(cpu, 1e-9)), max(best_wall, len(bars) / wall)
    return {"bars": len(bars), "bars_per_s": round(best_cpu, 1), "bars_per_wall_s": round(best_wall, 1),
            "us_per_bar": round(1e6 / best_cpu, 1)}


async def _produce(producer: AIOKafkaProducer, topic: str, bars: list[MarketBar],
                   correlation: list[str] | None = None) -> None:
    futures = []
    for n, bar in enumerate(bars):
        headers = MessageHeaders.new(topics.MARKET_BARS.name, correlation_id=correlation[n] if correlation else None)
        futures.append(await producer.send(topic, topics.MARKET_BARS.encode(bar), key=bar.symbol.encode(),
                                           headers=headers.as_kafka()))
    await asyncio.gather(*futures)


def _latency_index(_topic: str, headers: dict[str, str], _value: bytes) -> str | None:
    correlation = headers.get(h.CORRELATION_ID, "")
    return correlation if correlation.startswith("lat-") else None


def _rate(arrivals: list[float], total: int) -> float | None:
    """Records per second from the first fetch that held a signal to the last (None: too few fetches)."""
    if len(arrivals) < total or arrivals[0] == arrivals[-1]:
        return None
    first = sum(1 for at in arrivals if at == arrivals[0])
    return (total - first) / (arrivals[-1] - arrivals[0])


async def _throughput(service: ServiceProcess, observer: Observer, total: int, infra: dict[str, int]) -> dict[str, Any]:
    assert service.process is not None
    pid = service.process.pid
    before = await snapshot([(service.name, service.url)])
    cpu0 = {"ta": cpu_seconds(pid) or 0.0, **{k: cpu_seconds_tree(p) or 0.0 for k, p in infra.items()}}
    measured = total - len(observer.records)  # the service may have handled a batch before it said it was ready
    if not await observer.wait_until(lambda: len(observer.records) >= total, 600):
        raise TimeoutError(f"only {len(observer.records)}/{total} signals; log: {service.log_path}")
    cpu1 = {"ta": cpu_seconds(pid) or 0.0, **{k: cpu_seconds_tree(p) or 0.0 for k, p in infra.items()}}
    inside = mean_ms(before, await snapshot([(service.name, service.url)]))
    batches = next((v for k, v in inside.items() if topics.MARKET_BARS.name in k), None)
    per_s = _rate([at for *_, at in observer.records[:total]], total)
    return {"bars_per_s": None if per_s is None else round(per_s, 1),
            "us_per_bar": None if not per_s else round(1e6 / per_s, 1),
            "cpu_us_per_bar": {name: round((cpu1[name] - cpu0[name]) * 1e6 / measured, 1) for name in cpu0},
            "handler_ms_per_batch": batches and batches["mean_ms"],
            "bars_per_batch": batches and round(measured / batches["n"], 1)}


async def _latency(producer: AIOKafkaProducer, observer: Observer, topic: str, signals_topic: str,
                   bars: list[MarketBar], warmup: int) -> dict[str, Any]:
    samples = []
    for n, bar in enumerate(bars):
        correlation = f"lat-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        await _produce(producer, topic, [bar], [correlation])
        arrived = await observer.wait_for(signals_topic, correlation, timeout=10)
        if arrived is None:
            raise TimeoutError(f"no signal for the latency bar {bar.symbol} {bar.start}")
        if n >= warmup:
            samples.append((arrived - started) * 1000)
        await asyncio.sleep(LATENCY_PAUSE_S)
    return latency_summary(samples)


async def _bench(bootstrap: str, admin_url: str, log_dir: Path, *, symbols: int, bars_per_symbol: int,
                 samples: int, fetch_max_wait_ms: int, infra: dict[str, int]) -> dict[str, Any]:
    prefix = f"benchta{uuid.uuid4().hex[:6]}."
    names = [prefix + s.name for s in (topics.MARKET_BARS, topics.MARKET_QUOTES, topics.TA_SIGNALS)]
    extra = -(-(samples + LATENCY_WARMUP) // symbols)  # minutes after the preload for the latency bars
    bars = make_bars(symbols, bars_per_symbol + extra)
    preload, later = bars[:symbols * bars_per_symbol], bars[symbols * bars_per_symbol:]
    figures: dict[str, Any] = {"symbols": symbols, "bars": len(preload), "target_per_s": TARGET_BARS_PER_S,
                               "core": bench_core(preload)}
    await create_test_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names])
    database = f"bench_ta_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, database)
    service = ServiceProcess("ta", "torghut_ta", {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TOPIC_PREFIX": prefix,
        "LOG_LEVEL": "WARNING", "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
        "KAFKA_FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms)}, log_dir)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    observer = Observer(bootstrap, [names[2]], _latency_index, fetch_max_wait_ms=fetch_max_wait_ms)
    try:
        await producer.start()
        await _produce(producer, names[0], preload)
        await observer.start()
        service.start()
        await asyncio.to_thread(service.wait_ready, 120)
        figures["service"] = await _throughput(service, observer, len(preload), infra)
        figures["latency"] = await _latency(producer, observer, names[0], names[2],
                                            later[:samples + LATENCY_WARMUP], LATENCY_WARMUP)
        figures["peak_rss_mb"] = peak_rss_mb(service.process.pid) if service.process is not None else None
    finally:
        await observer.stop()
        await producer.stop()
        service.stop(grace_s=10)
        try:
            await delete_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names])
        finally:
            await drop_database(admin_url, database)
    per_s = figures["service"]["bars_per_s"]
    figures["meets_target"] = None if per_s is None else per_s >= TARGET_BARS_PER_S
    return figures


def rows(figures: dict[str, Any], hop1: dict[str, float], per_record: float) -> tuple[list[Row], list[Row]]:
    """The table's rows: (latency rows, throughput rows), each to go with its section."""
    latency = figures["latency"]
    service = figures["service"]["bars_per_s"]
    return [
        Row("latency", "ta: bar -> signal, p50", latency["p50_ms"], "ms", "1 hop p50", hop1["p50_ms"]),
        Row("latency", "ta: bar -> signal, p99", latency["p99_ms"], "ms", "1 hop p99", hop1["p99_ms"]),
    ], [
        Row("throughput", f"ta alone, bars -> signals ({figures['symbols']} symbols)", service, "/s",
            "passthrough per record", per_record, f">= {figures['target_per_s']:,}/s", figures["meets_target"]),
        Row("throughput", "ta core apply (1 core)", figures["core"]["bars_per_s"], "/s"),
    ]


def run(bootstrap: str, admin_url: str, log_dir: Path, *, symbols: int = 500, bars_per_symbol: int = 60,
        samples: int = 50, fetch_max_wait_ms: int = 20, infra: dict[str, int] | None = None) -> dict[str, Any]:
    """Every part on a started stack (synchronous: it runs its own event loop)."""
    return asyncio.run(_bench(bootstrap, admin_url, log_dir, symbols=symbols, bars_per_symbol=bars_per_symbol,
                              samples=samples, fetch_max_wait_ms=fetch_max_wait_ms, infra=dict(infra or {})))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars-per-symbol", type=int, default=60)
    parser.add_argument("--samples", type=int, default=50, help="bar -> signal latency samples (after 5 warm-up)")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torghut-bench-ta-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        figures = run(stack.kafka_bootstrap, stack.database_url, Path(scratch) / "logs", symbols=args.symbols,
                      bars_per_symbol=args.bars_per_symbol, samples=args.samples,
                      fetch_max_wait_ms=args.fetch_max_wait_ms, infra=stack.pids)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
