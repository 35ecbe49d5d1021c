"""The bare limit: how fast a record crosses one and five aiokafka hops on this broker.

A chain of five topics joined by four passthrough processes (:mod:`bench.passthrough`) has the
shape of the real pipeline (signals -> triggers -> decisions -> approved orders -> trade updates:
five topics, four services in between), with none of the work. One record at a time is produced
to the first topic and an :class:`~bench.observe.Observer` notes when it appears on each topic, so
one run yields the one-hop latency (produce -> another consumer sees it), the latency after
two to five hops, and how long the broker takes to acknowledge a produce (the floor of anything
that answers a caller only once its message is on a topic, like the GitHub webhook). Peak RSS of a
passthrough process is the baseline for a service's memory.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.processes import spawn

from .observe import Observer
from .procfs import cpu_seconds, peak_rss_mb
from .stats import latency_summary

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_ID = "x-bench-id"
HOPS = 5
#: A body the size of a real TaSignal (about 350 bytes of JSON), so the bytes on the wire match.
BODY = json.dumps({"symbol": "AAPL", "event_ts": "2026-02-12T14:31:00Z", "seq": 1, "source": "ta", "window": "PT1M",
                   "price": "231.4716", "ema12": "231.4716", "ema26": "231.4716", "vwap": "231.4941",
                   "bid": "231.4261", "ask": "231.5172", "bid_size": "1000", "ask_size": "900",
                   "spread_bps": "3.936", "volume": "76175", "macd": "0.1", "macd_signal": "0.0"}).encode()


class PassthroughProcess:
    """One :mod:`bench.passthrough` OS process."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.process: subprocess.Popen[bytes]
        self.process, _ = spawn(name, [sys.executable, "-m", "bench.passthrough", *argv],
                                log_path=log_dir / f"{name}.log", cwd=REPO_ROOT, tie_to_parent=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


async def measure_chain(bootstrap: str, log_dir: Path, *, samples: int = 200, warmup: int = 10,
                        partitions: int = 3, fetch_max_wait_ms: int = 20, idle_s: float = 2.0) -> dict[str, Any]:
    """Latency after 1..5 hops and of a produce's acknowledgement (p50/p99/max ms), the passthroughs' peak
    RSS and their CPU when idle."""
    prefix = f"bare{uuid.uuid4().hex[:6]}."
    names = [f"{prefix}hop{i}" for i in range(1, HOPS + 1)]
    await create_test_topics(bootstrap, names, partitions=partitions)
    relays = [PassthroughProcess(f"passthrough-{i}", ["--bootstrap", bootstrap, "--source", src, "--sink", dst,
                                                      "--group", f"{prefix}relay{i}",
                                                      "--fetch-max-wait-ms", str(fetch_max_wait_ms)], log_dir)
              for i, (src, dst) in enumerate(itertools.pairwise(names), start=1)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    observer = Observer(bootstrap, names, lambda _t, headers, _v: headers.get(BENCH_ID),
                        fetch_max_wait_ms=fetch_max_wait_ms)
    latencies: list[list[float]] = [[] for _ in names]
    acked: list[float] = []
    lost = 0
    try:
        await producer.start()
        await observer.start()
        for i in range(warmup + samples):
            sample = f"s{i}"
            key = f"K{i % 10}".encode()
            started = time.perf_counter()
            ack = await producer.send(names[0], BODY, key=key, headers=[(BENCH_ID, sample.encode())])
            if i >= warmup:
                ack.add_done_callback(lambda _f, t0=started: acked.append((time.perf_counter() - t0) * 1000))
            # the first records wait for the relays to join their groups
            arrived = await observer.wait_for(names[-1], sample, timeout=60 if i < warmup else 10)
            if arrived is None:
                lost += 1
                continue
            if i >= warmup:
                for hop, topic in enumerate(names):
                    latencies[hop].append((observer.arrivals[(topic, sample)] - started) * 1000)
        rss = {relay.name: peak_rss_mb(relay.process.pid) for relay in relays}
        idle_before, idle_started = [cpu_seconds(r.process.pid) or 0.0 for r in relays], time.perf_counter()
        await asyncio.sleep(idle_s)
        idle_after = [cpu_seconds(r.process.pid) or 0.0 for r in relays]
        idle_elapsed = time.perf_counter() - idle_started
        idle_pct = max(a - b for a, b in zip(idle_after, idle_before, strict=True)) / idle_elapsed * 100
    finally:
        await observer.stop()
        await producer.stop()
        for relay in relays:
            relay.stop()
        await delete_topics(bootstrap, names)
    return {
        "hops": {str(hop + 1): latency_summary(values) for hop, values in enumerate(latencies)},
        "produce_acked": latency_summary(acked),
        "lost": lost,
        "partitions": partitions,
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "passthrough_peak_rss_mb": max((v for v in rss.values() if v is not None), default=None),
        "passthrough_idle_cpu_pct": round(idle_pct, 1),
    }
