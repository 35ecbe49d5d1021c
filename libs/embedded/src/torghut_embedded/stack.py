"""``EmbeddedStack``: Tansu + Postgres under one data directory, on free loopback ports.

Layout of the data directory::

    stack.json        state, endpoints, PIDs (+ start times), logs: lets another process stop it
    stack.env         KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, present only while the stack runs
    logs/tansu.log    broker stdout+stderr
    logs/initdb.log   cluster initialisation (first start only)
    logs/postgres.log server log
    logs/flags.log    the Flipt-compatible flag server (only with ``flags_file``)
    postgres/         the Postgres cluster (kept across restarts; Kafka data is memory-only)

``stack.json`` and ``stack.env`` are read and written by :mod:`torghut_embedded.stack_record`.

With ``flags_file`` a third process serves it with Flipt's evaluation API
(:mod:`torghut_embedded.flags_server`); ``stack.env`` then also holds ``TRADING_FEATURE_FLAGS_URL``
(flags stay off until ``TRADING_FEATURE_FLAGS_ENABLED=true``).

Servers start one after the other (Tansu answers in milliseconds, so a broken broker fails before
the ~1 s Postgres init). Any failure stops whatever was already started and raises
:class:`ServerStartError` with the log tail.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import kafka, postgres
from ._aio import run_blocking, wait_until_answers
from .errors import ServerExited, ServerStartError, StackAlreadyRunning, StackNotFound
from .processes import free_port, spawn, stop_processes
from .stack_record import STACK_ENV, STACK_JSON, StackInfo, now_iso, read_stack, write_stack

HOST = "127.0.0.1"


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
        self._info.stopped_at = now_iso()
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
