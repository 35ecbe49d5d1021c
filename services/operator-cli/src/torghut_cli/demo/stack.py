"""What a demo run starts: the embedded broker and Postgres, every service as its own process, the
operator console and, with ``--llm local``, a local model; opened for trading, stopped on exit.

:func:`demo_stack` is shared by ``torghut demo`` (:mod:`.runner`), the end-to-end tests and the benches.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from rich.console import Console
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE
from torghut_embedded.kafka import create_default_topics
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer
from torghut_embedded.processes import free_ports
from torghut_embedded.stack import EmbeddedStack

from ..control import next_command
from .make_dataset import DATASET_DIR, INSTRUMENTS, SESSION_DATE
from .processes import ServiceProcess

console = Console()
ACCOUNT = "paper-main"
LOCAL_MODEL_TIMEOUT_S = 30.0
"""A review by the local model takes seconds on two cores; past this the engine holds (llm_error)."""
LOCAL_MODEL_MAX_TOKENS = 200
"""The program's fields fit in far less; a tiny model that rambles is cut here (then: llm_parse_error)."""
BARS_FILE = DATASET_DIR / f"bars-{SESSION_DATE}.csv"
QUOTES_FILE = DATASET_DIR / f"quotes-{SESSION_DATE}.csv"


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
    "execution-router": {"EXECUTION_PRIMARY_ADAPTER": "paper", "CLOCK": "event"},
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
    """The engine's DSPy mode on the local model: the shipped program reviews every proposal to trade,
    held to its JSON schema; each review that fails (a parse error, a timeout) is a hold with its
    reason code."""
    from torghut_decision_program.shipped import shipped_artifacts

    return {"DECISION_ENGINE_LLM_BASE_URL": model.base_url, "DECISION_ENGINE_LLM_MODEL": MODEL_NAME,
            "DECISION_ENGINE_DSPY_ARTIFACT_HASH": next(iter(shipped_artifacts())),
            "DECISION_ENGINE_LLM_TIMEOUT_S": str(LOCAL_MODEL_TIMEOUT_S),
            "DECISION_ENGINE_LLM_MAX_TOKENS": str(LOCAL_MODEL_MAX_TOKENS),
            "DECISION_ENGINE_LLM_RESPONSE_SCHEMA": "true"}


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


def record_services(workdir: Path, services: list[ServiceProcess]) -> None:
    """Where each service listens: ``torghut status`` reads it to find the demo's services."""
    (workdir / "services.json").write_text(json.dumps({s.name: {"url": s.url} for s in services}, indent=2))


def start_all(services: list[ServiceProcess]) -> None:
    for service in services:
        service.start()
    for service in services:
        service.wait_ready()
        console.print(f"  [green]ready[/] {service.name:<17} {service.url}   log {service.log_path}", soft_wrap=True)
