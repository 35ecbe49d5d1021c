"""Benchmark: decision-client with the reference decision engine, each its own OS process (issue #24).

    uv run python -m bench.decision_client [--triggers 1500] [--symbols 200] [--samples 40]
                                           [--batch-max 32] [--workers 64]

* **triggers -> decisions**: with the account's snapshot stored, ``triggers`` strategy triggers
  spread over ``symbols`` symbols are produced at once on ``torghut.triggers.v1``, as a busy open or
  a replay at speed brings them. The rate runs from the first decision an observer reads on
  ``torghut.decisions.v1`` to the last. Every decision must carry an engine run id: a hold decided
  without the engine (no portfolio) would make the figure meaningless, and the bench refuses it.
  CPU per decision of the client, the engine, Tansu and Postgres say where the time went, and the
  client's ``torghut_decision_client_engine_batch_runs`` how well the engine batches formed.
* **trigger -> decision latency**: the service idle, one trigger at a time, from the produce to the
  observer reading its decision. The baseline is the bare one-hop latency of ``bench.bare``.

The service's settings are its defaults but for the replay clock and the log level, so the figure is
what a deployment gets; ``--batch-max 1`` turns the engine batches off for an A/B.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine
from torghut_cli.demo.processes import ServiceProcess
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, StrategyTrigger
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.stack import EmbeddedStack

from .observe import Observer
from .procfs import cpu_seconds, cpu_seconds_tree, peak_rss_mb
from .report import Row, floor
from .scrape import snapshot
from .stats import latency_summary

ACCOUNT = "paper-main"
BATCH_RUNS = "torghut_decision_client_engine_batch_runs"
LATENCY_WARMUP = 5
LATENCY_PAUSE_S = 0.02


def ticker(i: int) -> str:
    return f"{chr(65 + i // 676 % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}"


def make_trigger(n: int, symbol: str, now: datetime, tag: str) -> StrategyTrigger:
    """A MACD cross, buy or sell in turn (the engine sizes the buys and holds most sells: no position)."""
    return StrategyTrigger(request_id=hashlib.sha256(f"{tag}-{n}".encode()).hexdigest(), strategy_id="macd-rsi-v1",
                           symbol=symbol, direction="buy" if n % 2 else "sell", trigger_type="macd_cross_up",
                           event_ts=now, signal_seq=n + 1, price=Decimal("160"),
                           features={"macd": Decimal("1.2"), "macd_signal": Decimal("0.8"), "rsi14": Decimal("61")},
                           triggered_at=now)


def _index(_topic: str, headers: dict[str, str], _value: bytes) -> str | None:
    return headers.get(h.CORRELATION_ID)


async def _produce(producer: AIOKafkaProducer, topic: str, triggers: list[StrategyTrigger]) -> None:
    futures = []
    for trigger in triggers:
        headers = MessageHeaders.new(topics.TRIGGERS.name, correlation_id=trigger.request_id)
        futures.append(await producer.send(topic, topics.TRIGGERS.encode(trigger), key=trigger.symbol.encode(),
                                           headers=headers.as_kafka()))
    await asyncio.gather(*futures)


async def _snapshot_stored(database_url: str, timeout_s: float = 60) -> None:
    engine = create_async_engine(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                stored = (await conn.execute(sa.text(
                    "SELECT count(*) FROM decision_client.account_snapshots WHERE account = :account"),
                    {"account": ACCOUNT})).scalar()
            if stored:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("the decision-client did not store the account snapshot")
    finally:
        await engine.dispose()


def _cpu(pids: dict[str, int], infra: dict[str, int]) -> dict[str, float]:
    return {**{name: cpu_seconds(pid) or 0.0 for name, pid in pids.items()},
            **{name: cpu_seconds_tree(pid) or 0.0 for name, pid in infra.items()}}


async def _throughput(producer: AIOKafkaProducer, observer: Observer, topic: str, decisions_topic: str,
                      triggers: list[StrategyTrigger], pids: dict[str, int], infra: dict[str, int],
                      client_url: str) -> dict[str, Any]:
    wanted = {trigger.request_id for trigger in triggers}
    batches0 = await snapshot([("client", client_url)], [BATCH_RUNS])
    cpu0 = _cpu(pids, infra)
    await _produce(producer, topic, triggers)
    if not await observer.wait_until(lambda: all((decisions_topic, r) in observer.arrivals for r in wanted), 600):
        done = sum((decisions_topic, r) in observer.arrivals for r in wanted)
        raise TimeoutError(f"only {done}/{len(wanted)} decisions")
    cpu1 = _cpu(pids, infra)
    batches1 = await snapshot([("client", client_url)], [BATCH_RUNS])
    decided = [(at, json.loads(value)) for t, headers, value, at in observer.records
               if t == decisions_topic and headers.get(h.CORRELATION_ID) in wanted]
    without_engine = [d["request_id"] for _, d in decided if not d["provenance"].get("run_id")]
    if without_engine:
        raise RuntimeError(f"{len(without_engine)} decisions were made without the engine "
                           f"(first: {decided[0][1]['reason_codes']}); the figure would not be the engine's")
    arrivals = sorted(at for at, _ in decided)
    first = sum(1 for at in arrivals if at == arrivals[0])
    per_s = (len(arrivals) - first) / (arrivals[-1] - arrivals[0]) if arrivals[-1] > arrivals[0] else None
    actions: dict[str, int] = {}
    for _, decision in decided:
        actions[decision["intent"]["action"]] = actions.get(decision["intent"]["action"], 0) + 1
    key = f"client {BATCH_RUNS}{{}}"
    runs, batches = (a - b for a, b in zip(batches1.get(key, (0.0, 0.0)), batches0.get(key, (0.0, 0.0)), strict=True))
    return {"decisions_per_s": None if per_s is None else round(per_s, 1), "actions": actions,
            "engine_batches": int(batches), "runs_per_engine_batch": round(runs / batches, 1) if batches else None,
            "cpu_ms_per_decision": {name: round((cpu1[name] - cpu0[name]) * 1000 / len(triggers), 3)
                                    for name in cpu0}}


async def _latency(producer: AIOKafkaProducer, observer: Observer, topic: str, decisions_topic: str,
                   triggers: list[StrategyTrigger]) -> dict[str, Any]:
    samples = []
    for n, trigger in enumerate(triggers):
        started = time.perf_counter()
        await _produce(producer, topic, [trigger])
        arrived = await observer.wait_for(decisions_topic, trigger.request_id, timeout=30)
        if arrived is None:
            raise TimeoutError(f"no decision for the latency trigger {trigger.request_id}")
        if n >= LATENCY_WARMUP:
            samples.append((arrived - started) * 1000)
        await asyncio.sleep(LATENCY_PAUSE_S)
    return latency_summary(samples)


async def _bench(bootstrap: str, admin_url: str, log_dir: Path, *, triggers: int, symbols: int, samples: int,
                 fetch_max_wait_ms: int, infra: dict[str, int], settings: dict[str, str]) -> dict[str, Any]:
    prefix = f"benchdc{uuid.uuid4().hex[:6]}."
    specs = (topics.TRIGGERS, topics.DECISIONS, topics.ACCOUNT_SNAPSHOTS)
    names = [prefix + spec.name for spec in specs]
    await create_test_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names],
                             partitions=topics.TRIGGERS.partitions)
    database = f"bench_dc_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, database)
    common = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TOPIC_PREFIX": prefix,
              "TORGHUT_ACCOUNT": ACCOUNT, "LOG_LEVEL": "WARNING", "CLOCK": "event",
              "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
              "KAFKA_FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms)}
    engine = ServiceProcess("decision-engine", "torghut_decision_engine", common, log_dir)
    client = ServiceProcess("decision-client", "torghut_decision_client",
                            {**common, "DECISION_ENGINE_URL": engine.url, "EXECUTION_PRIMARY_ADAPTER": "paper",
                             **settings}, log_dir)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    observer = Observer(bootstrap, [names[1]], _index, fetch_max_wait_ms=fetch_max_wait_ms)
    now = datetime.now(UTC)
    names_of = [ticker(i) for i in range(symbols)]
    burst = [make_trigger(n, names_of[n % symbols], now, prefix) for n in range(triggers)]
    later = [make_trigger(triggers + n, names_of[n % symbols], now, prefix) for n in range(samples + LATENCY_WARMUP)]
    figures: dict[str, Any] = {"triggers": triggers, "symbols": symbols, "settings": settings}
    try:
        await producer.start()
        await observer.start()
        for service in (engine, client):
            service.start()
        for service in (engine, client):
            await asyncio.to_thread(service.wait_ready, 120)
        snapshot = AccountSnapshot(snapshot_id=f"{prefix}snap", account=ACCOUNT, venue=Adapter.PAPER, as_of=now,
                                   equity=Decimal(1_000_000), cash=Decimal(1_000_000), buying_power=Decimal(2_000_000))
        await producer.send_and_wait(names[2], topics.ACCOUNT_SNAPSHOTS.encode(snapshot), key=ACCOUNT.encode(),
                                     headers=MessageHeaders.new(topics.ACCOUNT_SNAPSHOTS.name).as_kafka())
        await _snapshot_stored(database_url)
        warm = [make_trigger(n, names_of[n % symbols], now, prefix + "warm") for n in range(40)]
        await _produce(producer, names[0], warm)
        await observer.wait_until(lambda: all((names[1], t.request_id) in observer.arrivals for t in warm), 120)
        assert client.process is not None and engine.process is not None
        pids = {"decision-client": client.process.pid, "decision-engine": engine.process.pid}
        figures["burst"] = await _throughput(producer, observer, names[0], names[1], burst, pids, infra, client.url)
        figures["latency"] = await _latency(producer, observer, names[0], names[1], later)
        figures["peak_rss_mb"] = {name: peak_rss_mb(pid) for name, pid in pids.items()}
    finally:
        await observer.stop()
        await producer.stop()
        for service in (client, engine):
            service.stop(grace_s=10)
        try:
            await delete_topics(bootstrap, names + [n + topics.DLQ_SUFFIX for n in names])
        finally:
            await drop_database(admin_url, database)
    return figures


def rows(figures: dict[str, Any], hop1: dict[str, float], per_record: float) -> tuple[list[Row], list[Row]]:
    """The table's rows: (latency rows, throughput rows), each to go with its section."""
    burst = figures["burst"]
    return [
        Row("latency", "decision-client + engine: trigger -> decision, p50", figures["latency"]["p50_ms"], "ms",
            "1 hop p50", hop1["p50_ms"]),
    ], [
        Row("throughput", "decision-client + engine, triggers -> decisions",
            burst["decisions_per_s"], "/s", "passthrough per record", per_record, ">= 0.5x",
            floor(burst["decisions_per_s"], per_record, 0.5)),
    ]


def run(bootstrap: str, admin_url: str, log_dir: Path, *, triggers: int = 1500, symbols: int = 200,
        samples: int = 40, fetch_max_wait_ms: int = 20, infra: dict[str, int] | None = None,
        settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Both parts on a started stack (synchronous: it runs its own event loop). ``settings``: environment
    variables for the decision-client on top of its defaults."""
    return asyncio.run(_bench(bootstrap, admin_url, log_dir, triggers=triggers, symbols=symbols, samples=samples,
                              fetch_max_wait_ms=fetch_max_wait_ms, infra=dict(infra or {}),
                              settings=dict(settings or {})))


def report(figures: dict[str, Any]) -> str:
    burst, latency = figures["burst"], figures["latency"]
    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in burst["cpu_ms_per_decision"].items())
    return "\n".join([
        "decision-client + reference engine benchmark" + (f" ({figures['settings']})" if figures["settings"] else ""),
        f"  triggers -> decisions     {burst['decisions_per_s']:>8,.1f} /s  ({figures['triggers']} triggers, "
        f"{figures['symbols']} symbols; {burst['actions']})",
        f"  CPU per decision, ms      {cpu}",
        f"  engine batches            {burst['engine_batches']}, {burst['runs_per_engine_batch']} runs each on average",
        f"  trigger -> decision       p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms "
        "(idle, one at a time)",
        f"  peak RSS, MB              {figures['peak_rss_mb']}",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=1500)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--samples", type=int, default=40, help="trigger -> decision latency samples (after 5 warm-up)")
    parser.add_argument("--batch-max", type=int, help="DECISION_ENGINE_BATCH_MAX (default: the service's)")
    parser.add_argument("--workers", type=int, help="DECISION_CLIENT_WORKERS (default: the service's)")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    settings = {name: str(value) for name, value in (("DECISION_ENGINE_BATCH_MAX", args.batch_max),
                                                      ("DECISION_CLIENT_WORKERS", args.workers)) if value is not None}
    with tempfile.TemporaryDirectory(prefix="torghut-bench-dc-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        figures = run(stack.kafka_bootstrap, stack.database_url, Path(scratch) / "logs", triggers=args.triggers,
                      symbols=args.symbols, samples=args.samples, fetch_max_wait_ms=args.fetch_max_wait_ms,
                      infra=stack.pids, settings=settings)
    print(report(figures))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
