"""``EmbeddedStack``: Tansu + Postgres under one data directory, on free loopback ports.

Layout of the data directory::

    stack.json        state, endpoints, PIDs (+ start times), logs: lets another process stop it
    stack.env         KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, present only while the stack runs
    logs/tansu.log    broker stdout+stderr
    logs/initdb.log   cluster initialisation (first start only)
    logs/postgres.log server log
    logs/flags.log    the Flipt-compatible flag server (only with ``flags_file``)
    postgres/         the Postgres cluster (kept across restarts; Kafka data is memory-only)

With ``flags_file`` a third process serves it with Flipt's evaluation API
(:mod:`torghut_embedded.flags_server`); ``stack.env`` then also holds ``TRADING_FEATURE_FLAGS_URL``
(flags stay off until ``TRADING_FEATURE_FLAGS_ENABLED=true``).

Servers start one after the other (Tansu answers in milliseconds, so a broken broker fails before
the ~1 s Postgres init). Any failure stops whatever was already started and raises
:class:`ServerStartError` with the log tail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import kafka, postgres
from ._aio import run_blocking, wait_until_answers
from .errors import ServerExited, ServerStartError, StackAlreadyRunning, StackNotFound
from .processes import ProcessRecord, free_port, is_alive, spawn, stop_processes

HOST = "127.0.0.1"
STACK_JSON = "stack.json"
STACK_ENV = "stack.env"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class StackInfo:
    """The content of ``stack.json``."""

    data_dir: Path
    state: str = "starting"  # starting | running | stopped
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    flags_url: str | None = None
    processes: list[ProcessRecord] = field(default_factory=list)
    owner_pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=_now)
    stopped_at: str | None = None

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes}

    def env(self) -> dict[str, str]:
        """Connection settings as environment variables (what ``stack.env`` holds)."""
        out: dict[str, str] = {}
        if self.kafka_bootstrap:
            out["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap
        if self.database_url:
            out["DATABASE_URL"] = self.database_url
        if self.flags_url:
            out["TRADING_FEATURE_FLAGS_URL"] = self.flags_url
        return out

    def alive(self) -> dict[str, bool]:
        """``{process name: still running}`` (PID and start time must both match)."""
        return {p.name: is_alive(p.pid, p.start_ticks) for p in self.processes}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "data_dir": str(self.data_dir),
            "state": self.state,
            "kafka_bootstrap": self.kafka_bootstrap,
            "database_url": self.database_url,
            "flags_url": self.flags_url,
            "env": self.env(),
            "pids": self.pids,
            "logs": {p.name: p.log for p in self.processes},
            "processes": [p.to_json() for p in self.processes],
            "owner_pid": self.owner_pid,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StackInfo:
        return cls(
            data_dir=Path(raw["data_dir"]),
            state=str(raw.get("state", "running")),
            kafka_bootstrap=raw.get("kafka_bootstrap"),
            database_url=raw.get("database_url"),
            flags_url=raw.get("flags_url"),
            processes=[ProcessRecord.from_json(p) for p in raw.get("processes", [])],
            owner_pid=int(raw.get("owner_pid", 0)),
            started_at=str(raw.get("started_at", "")),
            stopped_at=raw.get("stopped_at"),
        )


def read_stack(data_dir: str | Path) -> StackInfo:
    """Load ``<data_dir>/stack.json``; :class:`StackNotFound` if there is none."""
    path = Path(data_dir) / STACK_JSON
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StackNotFound(f"no {STACK_JSON} in {data_dir}: no stack was started there") from exc
    return StackInfo.from_json(raw)


def write_stack(info: StackInfo) -> None:
    """Atomically write ``stack.json``; write ``stack.env`` while running, remove it otherwise."""
    info.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = info.data_dir / f".{STACK_JSON}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    os.replace(tmp, info.data_dir / STACK_JSON)
    env_path = info.data_dir / STACK_ENV
    if info.state == "running":
        env_path.write_text("".join(f"{k}={v}\n" for k, v in info.env().items()))
    else:
        env_path.unlink(missing_ok=True)


def stop_stack(
    data_dir: str | Path,
    *,
    grace_s: float = 10.0,
    children: dict[int, subprocess.Popen[bytes]] | None = None,
) -> dict[str, str]:
    """Stop, by PID, every process recorded in ``<data_dir>/stack.json`` (from any process).

    Returns ``{name: outcome}`` (see :func:`stop_processes`). Idempotent.
    """
    info = read_stack(data_dir)
    outcome = stop_processes(list(reversed(info.processes)), grace_s=grace_s, children=children)
    if info.state != "stopped":
        info.state = "stopped"
        info.stopped_at = _now()
    write_stack(info)
    return outcome


class EmbeddedStack:
    """Real Tansu broker + real Postgres on loopback, for demos and tests.

    >>> with EmbeddedStack("/tmp/stack") as stack:          # doctest: +SKIP
    ...     stack.kafka_bootstrap, stack.database_url, stack.pids

    ``tie_to_parent`` (default) makes the servers die with the thread that started them, so a
    crashed test run leaves nothing behind; ``torghut-infra up`` turns it off to detach.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        kafka_port: int = 0,
        postgres_port: int = 0,
        tansu_bin: str | Path | None = None,
        durable_postgres: bool = False,
        start_timeout_s: float = 30.0,
        stop_grace_s: float = 10.0,
        tie_to_parent: bool = True,
        flags_file: str | Path | None = None,
        flags_port: int = 0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._kafka_port = kafka_port
        self._postgres_port = postgres_port
        self._tansu_bin = None if tansu_bin is None else Path(tansu_bin)
        self._durable = durable_postgres
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._tie = tie_to_parent
        self._flags_file = None if flags_file is None else Path(flags_file).expanduser().resolve()
        self._flags_port = flags_port
        self._info: StackInfo | None = None
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- connection settings -------------------------------------------------------------------

    @property
    def info(self) -> StackInfo:
        if self._info is None:
            raise RuntimeError("the stack was not started")
        return self._info

    @property
    def kafka_bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the Tansu broker."""
        return _required(self.info.kafka_bootstrap, "kafka_bootstrap")

    @property
    def database_url(self) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres`` (the admin database)."""
        return _required(self.info.database_url, "database_url")

    @property
    def flags_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the flag server (only with ``flags_file``)."""
        return _required(self.info.flags_url, "flags_url")

    @property
    def pids(self) -> dict[str, int]:
        """``{"kafka": pid, "postgres": pid}`` (+ ``"flags"``) of the processes this stack started."""
        return self.info.pids

    @property
    def logs(self) -> dict[str, Path]:
        return {p.name: Path(p.log) for p in self.info.processes}

    @property
    def env_file(self) -> Path:
        return self.data_dir / STACK_ENV

    @property
    def json_file(self) -> Path:
        return self.data_dir / STACK_JSON

    @property
    def running(self) -> bool:
        return self._info is not None and self._info.state == "running"

    def env(self) -> dict[str, str]:
        """``{"KAFKA_BOOTSTRAP_SERVERS": ..., "DATABASE_URL": ...}``."""
        return self.info.env()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start both servers and wait until they answer; raise ServerStartError otherwise."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_running()
        self._info = StackInfo(data_dir=self.data_dir)
        try:
            self._start_kafka(self._info)
            self._start_postgres(self._info)
            if self._flags_file is not None:
                self._start_flags(self._info, self._flags_file)
        except BaseException:
            self.stop()
            raise
        self._info.state = "running"
        write_stack(self._info)
        return self

    def stop(self) -> dict[str, str]:
        """Stop everything this stack started (stop signal, SIGKILL after the grace period).

        Idempotent: a second call (or a call on a never-started stack) does nothing.
        """
        if self._info is None or self._info.state == "stopped":
            return {}
        outcome = stop_processes(
            list(reversed(self._info.processes)), grace_s=self._stop_grace_s, children=self._children
        )
        self._info.state = "stopped"
        self._info.stopped_at = _now()
        write_stack(self._info)
        self._children.clear()
        return outcome

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------

    def _refuse_if_running(self) -> None:
        try:
            previous = read_stack(self.data_dir)
        except StackNotFound:
            return
        alive = [name for name, up in previous.alive().items() if up]
        if alive:
            raise StackAlreadyRunning(
                f"{self.data_dir} already runs {', '.join(alive)} (pids {previous.pids}); "
                f"stop it first: torghut-infra down --data-dir {self.data_dir}"
            )

    def _launch(self, info: StackInfo, name: str, label: str, argv: list[str], **kw: Any) -> None:
        log = self.data_dir / "logs" / f"{label}.log"
        try:
            proc, record = spawn(name, argv, log_path=log, tie_to_parent=self._tie, **kw)
        except OSError as exc:
            raise ServerStartError(label, f"cannot execute {argv[0]}: {exc}", log) from exc
        self._children[proc.pid] = proc
        info.processes.append(record)

    def _wait(self, name: str, label: str, probe: Coroutine[Any, Any, None]) -> None:
        proc = self._children[self.info.pids[name]]
        log = self.data_dir / "logs" / f"{label}.log"
        try:
            run_blocking(probe)
        except ServerExited as exc:
            raise ServerStartError(label, f"process exited with code {proc.wait()}", log) from exc
        except TimeoutError as exc:
            raise ServerStartError(label, f"not answering after {self._start_timeout_s}s: {exc}", log) from exc

    def _alive(self, name: str) -> bool:
        return self._children[self.info.pids[name]].poll() is None

    def _deadline(self) -> float:
        return time.monotonic() + self._start_timeout_s

    def _start_kafka(self, info: StackInfo) -> None:
        binary = self._tansu_bin or kafka.tansu_binary(self.data_dir / "bin")
        port = self._kafka_port or free_port(HOST)
        self._launch(info, "kafka", "tansu", kafka.tansu_argv(binary, HOST, port), env=kafka.tansu_env())
        info.kafka_bootstrap = f"{HOST}:{port}"
        write_stack(info)
        self._wait(
            "kafka", "tansu", kafka.wait_kafka(info.kafka_bootstrap, self._deadline(), lambda: self._alive("kafka"))
        )

    def _start_postgres(self, info: StackInfo) -> None:
        user = postgres.run_as_user()
        pgdata = self.data_dir / "postgres"
        postgres.init_cluster(pgdata, self.data_dir / "logs" / "initdb.log", user)
        port = self._postgres_port or free_port(HOST)
        argv = postgres.postgres_argv(pgdata, HOST, port, durable=self._durable)
        # SIGINT is Postgres's "fast shutdown"; SIGTERM ("smart") would wait for every client.
        self._launch(info, "postgres", "postgres", argv, stop_signal=signal.SIGINT, cwd=pgdata, user=user)
        info.database_url = postgres.make_url(HOST, port)
        write_stack(info)
        self._wait(
            "postgres",
            "postgres",
            postgres.wait_postgres(info.database_url, self._deadline(), lambda: self._alive("postgres")),
        )

    def _start_flags(self, info: StackInfo, features: Path) -> None:
        port = self._flags_port or free_port(HOST)
        argv = [sys.executable, "-m", "torghut_embedded.flags_server", "--file", str(features),
                "--host", HOST, "--port", str(port)]
        self._launch(info, "flags", "flags", argv)
        info.flags_url = f"http://{HOST}:{port}"
        write_stack(info)
        self._wait("flags", "flags", wait_flags(info.flags_url, self._deadline(), lambda: self._alive("flags")))


async def wait_flags(url: str, deadline: float, alive: Callable[[], bool]) -> None:
    """Until ``GET <url>/health`` answers 200 (the server exits at once on a bad features file)."""
    import asyncio

    def probe() -> None:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            response.read()

    await wait_until_answers(lambda: asyncio.to_thread(probe), what="flags", deadline=deadline, alive=alive)


def _required(value: str | None, what: str) -> str:
    if value is None:
        raise RuntimeError(f"{what} is not available: the stack did not start")
    return value
