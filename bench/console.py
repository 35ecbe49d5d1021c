"""Benchmark: the operator console while a demo session plays at the demo's pace.

    uv run python -m bench.console [--pages 2] [--speed 600 | --asap]

The demo's stack (every service and the console, each its own process, on embedded Tansu and
Postgres) plays the recorded session ``--speed`` times faster than it was recorded (600 by default,
``torghut demo``'s own default; ``--asap`` sends it with no pacing at all); ``--pages`` open
pages, each an event-stream client of every panel (what a browser tab costs the console), watch it.
Figures:

- the console's CPU over the replay, as a share of one core (user + system from /proc, over the
  time from the first signal sent to the last fill shown);
- its peak resident memory (``VmHWM``);
- the delay from a fill on ``torghut.trade-updates.v1`` (the router's ``x-produced-at``) to the first
  pipeline panel pushed to a page that counts it.

Targets (issue #25): under 10 % of one core, under 150 MB, fill -> page under 500 ms.
Results go to bench/results/console.json; docs/performance.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from httpx_sse import aconnect_sse
from torghut_cli.demo.runner import load_session, replay_session
from torghut_cli.demo.stack import demo_stack
from torghut_contracts import topics
from torghut_contracts.enums import FILL_EVENTS
from torghut_contracts.headers import PRODUCED_AT, header_dict

from .procfs import cpu_seconds, peak_rss_mb
from .results_file import write_results
from .stats import latency_summary

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKDIR = REPO_ROOT / ".torghut" / "bench" / "console"
IDLE_S = 5.0
PANELS = "status,pipeline,decisions,account,control,research"
FILLS = re.compile(r'data-stage="fills">\s*<span class="name">fills</span>\s*<span class="count" data-count="(\d+)"')
TARGETS = {"cpu_share_of_one_core": 0.10, "peak_rss_mb": 150.0, "fill_to_page_p99_ms": 500.0}


class FillClock:
    """When each fill was produced (topic order: one account, one partition) and when a page first counted it."""

    def __init__(self) -> None:
        self.produced: list[float] = []
        self.shown_at: list[float] = []  # shown_at[k]: when a page first showed a count > k

    def page_count(self, count: int, now: float) -> None:
        while len(self.shown_at) < count:
            self.shown_at.append(now)

    def delays_ms(self) -> list[float]:
        return [(shown - produced) * 1000 for produced, shown in zip(self.produced, self.shown_at, strict=False)]


async def read_fills(bootstrap: str, clock: FillClock) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topics.TRADE_UPDATES.name, p)
               for p in sorted(consumer.partitions_for_topic(topics.TRADE_UPDATES.name) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if topics.TRADE_UPDATES.decode(record.value).event in FILL_EVENTS:
                        produced = header_dict(record.headers)[PRODUCED_AT]
                        clock.produced.append(datetime.fromisoformat(produced).timestamp())
    finally:
        await consumer.stop()


async def watch_page(url: str, clock: FillClock, counts: list[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as client, \
            aconnect_sse(client, "GET", f"/events?panels={PANELS}") as stream:
        async for event in stream.aiter_sse():
            if event.event == "pipeline" and (match := FILLS.search(event.data)):
                counts.append(int(match.group(1)))
                clock.page_count(int(match.group(1)), time.time())


def render_stats(metrics: str) -> dict[str, dict[str, float]]:
    """Per panel: how many renders, and their mean time in ms, from the console's /metrics."""
    found: dict[str, dict[str, float]] = {}
    for name, panel, value in re.findall(r'torghut_console_render_seconds_(count|sum)\{panel="(\w+)"\} ([0-9.e+-]+)',
                                         metrics):
        found.setdefault(panel, {})[name] = float(value)
    return {panel: {"renders": v.get("count", 0), "mean_ms": round(1000 * v.get("sum", 0) / v["count"], 2)
                    if v.get("count") else 0} for panel, v in sorted(found.items())}


async def bench(pages: int, speed: float | None) -> dict[str, Any]:
    session = load_session()
    async with demo_stack(WORKDIR) as demo:
        pid = demo.console.process.pid if demo.console.process else 0
        clock, counts = FillClock(), [0]
        tasks = [asyncio.create_task(read_fills(demo.bootstrap, clock))]
        tasks += [asyncio.create_task(watch_page(demo.console.url, clock, counts)) for _ in range(pages)]
        try:
            await asyncio.sleep(2.0)  # the pages connected
            idle_before, idle_started = cpu_seconds(pid) or 0.0, time.monotonic()
            await asyncio.sleep(IDLE_S)
            idle = ((cpu_seconds(pid) or 0.0) - idle_before) / (time.monotonic() - idle_started)
            cpu_before, started = cpu_seconds(pid) or 0.0, time.monotonic()
            sent = await replay_session(demo.bootstrap, speed, session=session)
            quiet_since, last = time.monotonic(), -1
            while time.monotonic() - quiet_since < 4.0:  # until nothing new reached a page for 4 s
                if counts[-1] != last or len(clock.produced) > len(clock.shown_at):
                    quiet_since, last = time.monotonic(), counts[-1]
                demo.check_alive()
                await asyncio.sleep(0.1)
            elapsed = quiet_since - started
            cpu = (cpu_seconds(pid) or 0.0) - cpu_before
            rss = peak_rss_mb(pid)
            async with httpx.AsyncClient(base_url=demo.console.url) as client:
                renders = render_stats((await client.get("/metrics")).text)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    delays = clock.delays_ms()
    return {"speed": speed, "signals": sent, "fills": len(clock.produced), "fills_shown": len(clock.shown_at),
            "pages": pages, "renders": renders,
            "elapsed_s": round(elapsed, 2), "console_cpu_s": round(cpu, 2),
            "cpu_share_of_one_core": round(cpu / elapsed, 3) if elapsed else None, "peak_rss_mb": rss,
            "idle_cpu_share_of_one_core": round(idle, 3),
            "fill_to_page": latency_summary(delays) if delays else None}


def report(figures: dict[str, Any]) -> str:
    delay = figures["fill_to_page"] or {}
    pace = "as fast as it goes" if figures["speed"] is None else f"at {figures['speed']:g}x"
    lines = [f"console under the demo session replayed {pace} ({figures['signals']} signals, "
             f"{figures['fills']} fills, {figures['pages']} open pages, {figures['elapsed_s']} s)",
             f"  console CPU            {figures['cpu_share_of_one_core']:.1%} of one core   (target < 10 %)",
             f"  console CPU idle       {figures['idle_cpu_share_of_one_core']:.1%} of one core "
             "(pages open, no traffic)",
             f"  console peak RSS       {figures['peak_rss_mb']} MB          (target < 150 MB)",
             f"  fill -> page p50/p99   {delay.get('p50_ms')} / {delay.get('p99_ms')} ms, max {delay.get('max_ms')} ms"
             f"   (target < 500 ms)"]
    lines += [f"  renders {panel:<10} {v['renders']:>5.0f} x {v['mean_ms']} ms"
              for panel, v in figures["renders"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2, help="open pages watching every panel")
    parser.add_argument("--speed", type=float, default=600.0, help="the demo's pace (default 600, as make demo)")
    parser.add_argument("--asap", dest="speed", action="store_const", const=None, help="no pacing at all")
    args = parser.parse_args()
    figures = {**asyncio.run(bench(args.pages, args.speed)), "targets": TARGETS}
    write_results("console", figures, report(figures))


if __name__ == "__main__":
    main()
