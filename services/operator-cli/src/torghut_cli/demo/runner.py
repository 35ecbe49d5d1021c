"""``torghut demo``: the session replayed through the stack of :mod:`.stack`, watched, and reported.

Ctrl-C (or any failure) stops every process this command started, then the broker and Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.live import Live
from rich.table import Table
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders, header_dict

from ..windows import pacing_delays
from .make_dataset import DATASET_DIR, SESSION_DATE
from .report import PipelineTally
from .research import failed_gates, run_research_lane
from .stack import BARS_FILE, LOCAL_MODEL_TIMEOUT_S, console, demo_stack, record_services, start_all

WATCHED = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED,
           topics.TRADE_UPDATES)


def load_session() -> list[tuple[str, bytes, int]]:
    """(symbol, JSON bytes, event time in ms) for every signal of the committed session."""
    out = []
    for line in (DATASET_DIR / f"signals-{SESSION_DATE}.jsonl").read_text().splitlines():
        signal = topics.TA_SIGNALS.decode(line)
        out.append((signal.symbol, line.encode(), int(signal.event_ts.timestamp() * 1000)))
    return out


class Observer:
    """Reads every watched topic from the beginning into a :class:`PipelineTally`."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.tally = PipelineTally()
        self.last_activity = time.monotonic()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            names = [s.name for s in WATCHED] + [s.dlq.name for s in WATCHED]
            tps = [TopicPartition(name, p) for name in names for p in (consumer.partitions_for_topic(name) or ())]
            if not tps:
                await consumer.topics()
                tps = [TopicPartition(name, p) for name in names for p in (consumer.partitions_for_topic(name) or ())]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        self.tally.add(r.topic, header_dict(r.headers), r.value or b"")
                        self.last_activity = time.monotonic()
        finally:
            await consumer.stop()


def progress_table(tally: PipelineTally, sent: int, total: int, *, sent_label: str = "signals sent") -> Table:
    table = Table(title=f"Torghut demo — session {SESSION_DATE}", show_header=True)
    for column in (sent_label, "triggers", "decisions", "verdicts", "approved orders", "fills", "dead letters"):
        table.add_column(column, justify="right")
    table.add_row(f"{sent}/{total}", str(tally.counts["triggers"]), str(tally.counts["decisions"]),
                  str(tally.counts["verdicts"]), str(tally.counts["orders"]), str(tally.counts["fills"]),
                  str(sum(tally.dead_letters.values())))
    return table


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "none"


def final_report(tally: PipelineTally, log_dir: Path) -> None:
    console.rule("[bold]Session report")
    summary = Table("stage", "count")
    for stage in ("signals", "triggers", "decisions", "verdicts", "orders", "fills"):
        summary.add_row(stage, str(tally.counts[stage]))
    console.print(summary)
    console.print(f"decisions by action: {_counts(tally.decisions_by_action)}")
    console.print(f"verdicts: {_counts(tally.verdicts_by_outcome)}")
    if tally.veto_reasons:
        reasons = Table("veto reason", "count", title="verdicts by reason")
        for reason, count in tally.veto_reasons.most_common():
            reasons.add_row(reason, str(count))
        console.print(reasons)
    console.print(f"trade updates: {_counts(tally.trade_events)}")
    if tally.llm_reviews:
        console.print(f"language model: {_counts(tally.llm_reviews)}")
    if tally.dead_letters:
        console.print(f"[yellow]dead letters: {dict(tally.dead_letters)}")
    book = Table("symbol", "position", "last price", "exposure", "realized P&L", "unrealized P&L",
                 title="P&L and exposure (from fills, marked at the last signal price)")
    total_realized = total_unrealized = Decimal(0)
    for symbol, position in sorted(tally.books.items()):
        if position.qty == 0 and position.realized == 0:
            continue
        mark = tally.marks.get(symbol)
        book.add_row(symbol, str(position.qty), str(mark), f"{position.exposure(mark):.2f}",
                     f"{position.realized:.2f}", f"{position.unrealized(mark):.2f}")
        total_realized += position.realized
        total_unrealized += position.unrealized(mark)
    book.add_row("total", "", "", "", f"{total_realized:.2f}", f"{total_unrealized:.2f}")
    console.print(book)
    chain = tally.complete_chain()
    if chain:
        console.print("one complete chain (signal → trigger → decision → verdict → order → fill):")
        console.print(f"  correlation id  [bold]{chain}[/]", soft_wrap=True)
        console.print(f"  follow it:      grep {chain} {log_dir}/*.log", soft_wrap=True)
    else:
        console.print("[yellow]no chain reached a fill in this run")


async def replay_session(bootstrap: str, speed: float | None, progress: Callable[[int], None] = lambda sent: None,
                         session: list[tuple[str, bytes, int]] | None = None) -> int:
    """Publish the session's signals (or ``session``, a slice of them) paced by ``speed``; returns how many."""
    session = load_session() if session is None else session
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    try:
        for (symbol, body, _), delay in zip(session, pacing_delays((ts for *_, ts in session), speed), strict=True):
            if delay:
                await asyncio.sleep(delay)
            headers = MessageHeaders.new(topics.TA_SIGNALS.name)
            await producer.send(topics.TA_SIGNALS.name, body, key=symbol.encode(), headers=headers.as_kafka())
            sent += 1
            if sent % 25 == 0:
                await producer.flush()
                progress(sent)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def bar_count() -> int:
    return len(BARS_FILE.read_text().splitlines()) - 1


async def report_research_lane(workdir: Path, bootstrap: str) -> None:
    console.print("research lane over the session (torghut-research lane, no evidence file)…")
    lane = await run_research_lane(workdir, bootstrap)
    if lane is None:
        console.print("  skipped: the chart's candidate and the gate policy are not beside this install")
        return
    failed = failed_gates(lane)
    console.print(f"  {lane['candidate_id']}: {lane['action']}, {lane['promotion_target']} asked, "
                  f"{lane['recommended_mode']} recommended; gates failed: {', '.join(failed) or 'none'}",
                  soft_wrap=True)
    console.print(f"  run directory {lane['output_dir']}; published to {lane['published']} (the console's "
                  "research page)", soft_wrap=True)


async def run_demo(workdir: Path, speed: float | None, quiet_s: float, *, from_bars: bool = False,
                   keep: bool = False, llm: str | None = None) -> PipelineTally:
    """Run the session through the whole suite; the tally is what the report printed. With ``keep``, the
    stack stays up after the report (the console with it) until Ctrl-C."""
    if llm == "local":  # a review may take the whole timeout: the session is not over before it ends
        quiet_s = max(quiet_s, 2 * LOCAL_MODEL_TIMEOUT_S)
    async with demo_stack(workdir, from_bars=from_bars, llm=llm) as demo:
        observer = Observer(demo.bootstrap)
        observer_task = asyncio.create_task(observer.run())
        try:
            with Live(progress_table(observer.tally, 0, 0), console=console, refresh_per_second=4) as live:
                if demo.market is None:
                    total = len(load_session())
                    sent = await replay_session(demo.bootstrap, speed, lambda n: live.update(
                        progress_table(observer.tally, n, total)))
                    label = "signals sent"
                else:
                    # The file source publishes as it reads: the session arrives as fast as ta computes it.
                    console.print(f"market-data publishes {BARS_FILE.name} once; ta turns each bar into a signal")
                    demo.services.append(demo.market)
                    start_all([demo.market])
                    record_services(workdir, demo.services)
                    observer.last_activity = time.monotonic()  # the quiet window starts with the first bar
                    sent, label = bar_count(), "signals from bars"
                while time.monotonic() - observer.last_activity < quiet_s:
                    demo.check_alive()
                    done = observer.tally.counts["signals"] if demo.market is not None else sent
                    live.update(progress_table(observer.tally, done, sent, sent_label=label))
                    await asyncio.sleep(0.25)
                done = observer.tally.counts["signals"] if demo.market is not None else sent
                live.update(progress_table(observer.tally, done, sent, sent_label=label))
            observer_task.cancel()  # the tally returned is the one the report printed: nothing counts on
            with contextlib.suppress(asyncio.CancelledError, Exception):  # while the lane runs below
                await observer_task
            final_report(observer.tally, demo.log_dir)
            await report_research_lane(workdir, demo.bootstrap)
            if keep:
                console.print(f"[bold]--keep[/]: the stack stays up; watch it at {demo.console.url} "
                              f"(operator password {demo.console_password}). Ctrl-C stops it.", soft_wrap=True)
                while True:
                    demo.check_alive()
                    await asyncio.sleep(1.0)
            return observer.tally
        finally:
            observer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await observer_task


