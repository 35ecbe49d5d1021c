"""Pytest fixtures backed by real servers (loaded automatically through the ``pytest11`` entry point).

Everything is lazy: importing this plugin starts nothing; the first test that asks for
``embedded_stack`` (directly or through ``kafka_bootstrap``/``database_url``/...) starts one stack
for the whole session, stopped at session end. A stack that cannot start makes those tests *error*
with the server's log tail; it never skips them.

Isolation inside the shared session stack:

* ``topic_namespace`` gives each test a unique ``t<hex8>.`` prefix; topics under it are deleted
  after the test (Tansu keeps data in RAM until deletion).
* ``fresh_database_url`` gives each test its own database, dropped after the test.

``flags_server`` is a Flipt-compatible flag server (``torghut_embedded.flags_server``) per test, in a
thread, over its own ``features.yaml`` in ``tmp_path`` (empty ``default`` namespace at first): write
flags with ``flags_server.write(yaml_text)``; a file changed on disk is also picked up (checked every
50 ms when a request arrives).

ClickHouse (``clickhouse_server``, ``clickhouse_database``) is separate and optional: Debian's
``clickhouse-server`` started on first use. Without the binary those tests skip with how to install
it; under ``CI=true`` that is a failure.

The stack lives in a ``mkdtemp`` directory under the system temp dir (not pytest's ``tmp_path``,
whose 0700 parents the unprivileged Postgres user could not traverse when running as root). Set
``TORGHUT_KEEP_STACK=1`` to keep it (logs, ``stack.json``) after the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._aio import run_blocking
from .kafka import FAST_CONSUMER_SETTINGS, TANSU_PRODUCER_SETTINGS, create_test_topics

if TYPE_CHECKING:
    from .clickhouse import ClickHouseServer
    from .flags_server import FlagsServer
    from .stack import EmbeddedStack

__all__ = [
    "FAST_CONSUMER_SETTINGS",
    "TANSU_PRODUCER_SETTINGS",
    "clickhouse_database",
    "clickhouse_server",
    "create_test_topics",
    "database_url",
    "embedded_stack",
    "flags_server",
    "fresh_database_url",
    "kafka_bootstrap",
    "topic_namespace",
    "torghut_topics",
]


@pytest.fixture(scope="session")
def embedded_stack() -> Iterator[EmbeddedStack]:
    """One Tansu broker + one Postgres for the whole test session."""
    from .stack import EmbeddedStack

    data_dir = Path(tempfile.mkdtemp(prefix="torghut-stack-"))
    stack = EmbeddedStack(data_dir)
    stack.start()  # ServerStartError (with log tail) errors the requesting tests
    try:
        yield stack
    finally:
        outcome = stack.stop()
        if "still alive" in outcome.values():
            warnings.warn(f"embedded stack processes survived stop: {outcome}", stacklevel=1)
        elif not os.environ.get("TORGHUT_KEEP_STACK"):
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(embedded_stack: EmbeddedStack) -> str:
    """``127.0.0.1:PORT`` of the session's Tansu broker."""
    return embedded_stack.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(embedded_stack: EmbeddedStack) -> str:
    """``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres``: the admin database."""
    return embedded_stack.database_url


@pytest.fixture(scope="session")
def torghut_topics(kafka_bootstrap: str) -> list[str]:
    """Create every v1 contracts topic and its DLQ once per session; returns the names."""
    from .kafka import create_default_topics

    return run_blocking(create_default_topics(kafka_bootstrap))


@pytest.fixture
def fresh_database_url(database_url: str) -> Iterator[str]:
    """URL of a brand-new database for this test (dropped afterwards)."""
    from .postgres import create_database, drop_database

    name = f"t_{uuid.uuid4().hex[:12]}"
    url = run_blocking(create_database(database_url, name))
    yield url
    run_blocking(drop_database(database_url, name))


@pytest.fixture
def topic_namespace(kafka_bootstrap: str) -> Iterator[str]:
    """A unique topic prefix such as ``t1a2b3c4d.``; its topics are deleted after the test."""
    from .kafka import delete_topics, list_topics

    prefix = f"t{uuid.uuid4().hex[:8]}."
    yield prefix
    try:
        names = [t for t in run_blocking(list_topics(kafka_bootstrap)) if t.startswith(prefix)]
        run_blocking(delete_topics(kafka_bootstrap, names))
    except Exception as exc:  # cleanup only: the test's own outcome stands
        warnings.warn(f"could not delete topics under {prefix}: {exc!r}", stacklevel=1)


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[ClickHouseServer]:
    """One ClickHouse server for the session (skips, or fails under ``CI=true``, when none is installed)."""
    from .clickhouse import INSTALL_HINT, server_command, start_clickhouse

    command = server_command()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT + " (CI=true: missing ClickHouse is a failure, not a skip)")
        pytest.skip(INSTALL_HINT)
    running = start_clickhouse(command)  # ServerStartError (with log tail) errors the requesting tests
    try:
        yield running.server
    finally:
        outcome = running.stop(keep_data=bool(os.environ.get("TORGHUT_KEEP_STACK")))
        if "still alive" in outcome.values():
            warnings.warn(f"clickhouse-server survived stop: {outcome}", stacklevel=1)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Headless Debian Chromium under Playwright for the session (skips, or fails under ``CI=true``, without it)."""
    from playwright.async_api import async_playwright

    from .browser import FLAGS, INSTALL_HINT, chromium_path

    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT + " (CI=true: a missing browser is a failure, not a skip)")
        pytest.skip(INSTALL_HINT)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=list(FLAGS), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def clickhouse_database(clickhouse_server: ClickHouseServer) -> Iterator[str]:
    """The name of a brand-new, empty ClickHouse database for this test (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    clickhouse_server.execute(f"CREATE DATABASE {name}")
    yield name
    try:
        clickhouse_server.execute(f"DROP DATABASE IF EXISTS {name}")
    except Exception as exc:  # cleanup only: the test's own outcome stands
        warnings.warn(f"could not drop ClickHouse database {name}: {exc!r}", stacklevel=1)


@pytest.fixture
def flags_server(tmp_path: Path) -> Iterator[FlagsServer]:
    """A running Flipt-compatible flag server over ``tmp_path/features.yaml``; ``.url``, ``.write(text)``."""
    from .flags_server import FlagsServer

    path = tmp_path / "features.yaml"
    path.write_text("namespace: default\nflags: []\n")
    server = FlagsServer([path], check_interval_s=0.05)
    server.start()
    try:
        yield server
    finally:
        server.stop()
