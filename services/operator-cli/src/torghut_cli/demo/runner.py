"""``torghut demo``: embedded infrastructure, every service as its own process, one session replayed.

Ctrl-C (or any failure) stops every process this command started, then the broker and Postgres.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.live import Live
from rich.table import Table
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders, header_dict
from torghut_contracts.models import GLOBAL_SCOPE
from torghut_embedded.kafka import create_default_topics
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer
from torghut_embedded.processes import free_ports
from torghut_embedded.stack import EmbeddedStack

from ..control import next_command
from ..windows import pacing_delays
from .make_dataset import DATASET_DIR, INSTRUMENTS, SESSION_DATE
from .processes import ServiceProcess
from .report import PipelineTally

ACCOUNT = "paper-main"
LOCAL_MODEL_TIMEOUT_S = 30.0
"""A review by the local model takes seconds on two cores; past this the engine holds (llm_error)."""
LOCAL_MODEL_MAX_TOKENS = 200
"""The program's fields fit in far less; a tiny model that rambles is cut here (then: llm_parse_error)."""
BARS_FILE = DATASET_DIR / f"bars-{SESSION_DATE}.csv"
QUOTES_FILE = DATASET_DIR / f"quotes-{SESSION_DATE}.csv"
WATCHED = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED,
           topics.TRADE_UPDATES)
console = Console()


def _common_env(bootstrap: str, database_url: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url, "TORGHUT_ACCOUNT": ACCOUNT,
            "LOG_LEVEL": "INFO", **(extra_env or {})}


def service_plan(bootstrap: str, database_url: str, log_dir: Path,
                 extra_env: dict[str, str] | None = None, engine_env: dict[str, str] | None = None
                 ) -> list[ServiceProcess]:
    """Every service in pipeline order, configured for a replayed session (event time, paper venue)."""
    common = _common_env(bootstrap, database_url, extra_env)
    names = ("execution-router", "risk-firewall", "decision-client", "signal-trigger")
    ports = free_ports(1 + len(names))  # distinct: chosen one by one, two services could get the same
    engine = ServiceProcess("decision-engine", "torghut_decision_engine",
                            {**common, **REPLAY_ENV["decision-engine"], **(engine_env or {})}, log_dir, port=ports[0])
    plan = [engine]
    for name, port in zip(names, ports[1:], strict=True):
        env = {**common, **REPLAY_ENV[name]}
        if name == "decision-client":
            env["DECISION_ENGINE_URL"] = engine.url
        plan.append(ServiceProcess(name, "torghut_" + name.replace("-", "_"), env, log_dir, port=port))
    return plan


#: What each service needs to judge a recorded session by its event time rather than the wall clock.
REPLAY_ENV: dict[str, dict[str, str]] = {
    "decision-engine": {"CLOCK": "event"},
    "execution-router": {"EXECUTION_PRIMARY_ADAPTER": "paper", "EXECUTION_MAX_ORDER_AGE_S": "0"},
    "risk-firewall": {"CLOCK": "event"},
    "decision-client": {"EXECUTION_PRIMARY_ADAPTER": "paper", "CLOCK": "event"},
    "signal-trigger": {"CLOCK": "event"},
}


def bars_plan(bootstrap: str, database_url: str, log_dir: Path) -> tuple[ServiceProcess, ServiceProcess]:
    """(ta, market-data) for ``--from-bars``: market-data publishes the session's bars and quotes files
    once, ta turns each bar (with the latest quote) into the signal the rest of the suite consumes."""
    common = _common_env(bootstrap, database_url)
    symbols = ",".join(i.symbol for i in INSTRUMENTS)
    ta_port, market_port = free_ports(2)
    ta = ServiceProcess("ta", "torghut_ta", {**common, "TA_SYMBOLS": symbols}, log_dir, port=ta_port)
    market = ServiceProcess("market-data", "torghut_market_data", {
        **common, "MARKET_DATA_SOURCE": "file", "MARKET_DATA_FILE": str(BARS_FILE),
        "MARKET_DATA_QUOTES_FILE": str(QUOTES_FILE)}, log_dir, port=market_port)
    return ta, market


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
        book.add_row(symbol, str(position.qty), str(position.last_price), f"{position.exposure:.2f}",
                     f"{position.realized:.2f}", f"{position.unrealized:.2f}")
        total_realized += position.realized
        total_unrealized += position.unrealized
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


async def open_trading(bootstrap: str) -> None:
    """Kill switch off, trading state ACTIVE, published to the control topic as an operator would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        opening = next_command(None, scope=GLOBAL_SCOPE, kill_switch=False, trading_state=TradingState.ACTIVE,
                               reason="demo session open")
        await producer.send_and_wait(topics.CONTROL.name, topics.CONTROL.encode(opening), key=b"global",
                                     headers=MessageHeaders.new(topics.CONTROL.name).as_kafka())
    finally:
        await producer.stop()
    console.print("kill switch off, trading state ACTIVE (published to torghut.control.v1)")


def bar_count() -> int:
    return len(BARS_FILE.read_text().splitlines()) - 1


def console_plan(bootstrap: str, database_url: str, log_dir: Path, services: list[ServiceProcess]
                 ) -> tuple[ServiceProcess, str]:
    """The operator console, watching ``services``, with a password drawn for this run (printed, never stored)."""
    password = secrets.token_urlsafe(12)
    watched = ",".join(f"{s.name}={s.url}" for s in services)
    console_process = ServiceProcess("operator-console", "torghut_operator_console", {
        **_common_env(bootstrap, database_url), "CONSOLE_MODE": "demo", "CONSOLE_OPERATOR_PASSWORD": password,
        "CONSOLE_SERVICES": watched}, log_dir)
    return console_process, password


@dataclass
class DemoStack:
    """Everything a demo run started: the embedded broker and Postgres, the services, the console."""

    stack: EmbeddedStack
    services: list[ServiceProcess]
    console: ServiceProcess
    console_password: str
    log_dir: Path
    market: ServiceProcess | None = None

    @property
    def bootstrap(self) -> str:
        return self.stack.kafka_bootstrap

    def check_alive(self) -> None:
        for service in self.services:
            if not service.alive():
                raise RuntimeError(f"{service.name} died:\n{service.log_tail()}")


def local_model_env(model: LocalModelServer) -> dict[str, str]:
    """The engine's DSPy mode on the local model: the shipped program reviews every proposal; each
    review that fails (a parse error, a timeout) is a hold with its reason code."""
    from torghut_decision_program.shipped import shipped_artifacts

    return {"DECISION_ENGINE_LLM_BASE_URL": model.base_url, "DECISION_ENGINE_LLM_MODEL": MODEL_NAME,
            "DECISION_ENGINE_DSPY_ARTIFACT_HASH": next(iter(shipped_artifacts())),
            "DECISION_ENGINE_LLM_TIMEOUT_S": str(LOCAL_MODEL_TIMEOUT_S),
            "DECISION_ENGINE_LLM_MAX_TOKENS": str(LOCAL_MODEL_MAX_TOKENS)}


@contextlib.asynccontextmanager
async def demo_stack(workdir: Path, *, from_bars: bool = False, llm: str | None = None) -> AsyncIterator[DemoStack]:
    """Start the embedded infrastructure, every service and the console, and open trading; stop all on exit.

    With ``from_bars``, ta runs too, and ``market`` (market-data's file source) is planned but not started:
    starting it is what plays the session."""
    if workdir.exists():
        shutil.rmtree(workdir)
    log_dir = workdir / "logs"
    stack = EmbeddedStack(workdir / "infra")
    services: list[ServiceProcess] = []
    model: LocalModelServer | None = None
    try:
        engine_env: dict[str, str] = {}
        if llm == "local":
            console.print("starting the local model (SmolLM2-135M-Instruct, llama.cpp)…")
            model = LocalModelServer(log_dir)
            model.start()
            engine_env = local_model_env(model)
            console.print(f"  model {model.base_url}   log {model.log_path}", soft_wrap=True)
        console.print("starting the embedded broker (Tansu) and Postgres…")
        stack.start()
        await create_default_topics(stack.kafka_bootstrap)
        console.print(f"  kafka {stack.kafka_bootstrap}   postgres {stack.database_url}", soft_wrap=True)
        services = service_plan(stack.kafka_bootstrap, stack.database_url, log_dir, engine_env=engine_env)
        market: ServiceProcess | None = None
        if from_bars:
            ta, market = bars_plan(stack.kafka_bootstrap, stack.database_url, log_dir)
            services.append(ta)
        operator_console, password = console_plan(stack.kafka_bootstrap, stack.database_url, log_dir, services)
        services.append(operator_console)
        start_all(services)
        record_services(workdir, services)
        await open_trading(stack.kafka_bootstrap)
        console.print(f"[bold]operator console[/]  {operator_console.url}   operator password: "
                      f"[bold]{password}[/] (any name)", soft_wrap=True)
        yield DemoStack(stack, services, operator_console, password, log_dir, market)
    finally:
        for service in reversed(services):
            service.stop()
        # `torghut status` reads it to find the demo's services: they are gone now.
        (workdir / "services.json").unlink(missing_ok=True)
        stack.stop()
        if model is not None:
            model.stop()
        console.print("stopped every service, the broker and Postgres")


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
            final_report(observer.tally, demo.log_dir)
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


def record_services(workdir: Path, services: list[ServiceProcess]) -> None:
    """Where each service listens: ``torghut status`` reads it to find the demo's services."""
    (workdir / "services.json").write_text(json.dumps({s.name: {"url": s.url} for s in services}, indent=2))


def start_all(services: list[ServiceProcess]) -> None:
    for service in services:
        service.start()
    for service in services:
        service.wait_ready()
        console.print(f"  [green]ready[/] {service.name:<17} {service.url}   log {service.log_path}", soft_wrap=True)
