"""Stacks started and stopped by the tests themselves: clean stop, broken starts, the CLI."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from torghut_embedded import EmbeddedStack, ServerStartError, StackNotFound, cli, read_stack, stop_stack
from torghut_embedded.processes import descendants, is_alive

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /tmp directly, like the plugin: pytest's 0700 base dir is not traversable by the
    # unprivileged Postgres user when the suite runs as root.
    path = Path(tempfile.mkdtemp(prefix="torghut-lifecycle-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def _initialised_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="torghut-lifecycle-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stack_dir(_initialised_dir: Path) -> Iterator[Path]:
    """One data dir shared by the tests that start Postgres: initdb (~1 s) runs once, later starts
    reuse the cluster (~0.1 s). Whatever a test leaves running is stopped after it."""
    yield _initialised_dir
    with contextlib.suppress(StackNotFound):
        stop_stack(_initialised_dir)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_stop_leaves_no_process_alive(stack_dir: Path) -> None:
    stack = EmbeddedStack(stack_dir).start()
    pids = set(stack.pids.values())
    pids |= {child for pid in stack.pids.values() for child in descendants(pid)}
    assert len(pids) > 2  # Postgres runs background workers besides the postmaster

    outcome = stack.stop()

    assert outcome == {"postgres": "stopped", "kafka": "stopped"}
    assert [pid for pid in pids if is_alive(pid)] == []
    assert stack.stop() == {}  # idempotent
    assert read_stack(stack_dir).state == "stopped"
    assert not stack.env_file.exists()


def test_bogus_broker_binary_raises_with_log_tail(data_dir: Path) -> None:
    fake = data_dir / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'line one'\necho 'fake broker: cannot bind' >&2\nexit 3\n")
    fake.chmod(0o755)

    with pytest.raises(ServerStartError) as err:
        EmbeddedStack(data_dir / "stack", tansu_bin=fake).start()

    assert "exited with code 3" in str(err.value)
    assert "fake broker: cannot bind" in err.value.log_tail
    assert "line one" in str(err.value)
    assert read_stack(data_dir / "stack").state == "stopped"


def test_missing_broker_binary_raises(data_dir: Path) -> None:
    with pytest.raises(ServerStartError, match="cannot execute"):
        EmbeddedStack(data_dir, tansu_bin=data_dir / "no-such-binary").start()


def test_occupied_kafka_port_raises_with_tansu_log(data_dir: Path, busy_port: int) -> None:
    with pytest.raises(ServerStartError) as err:
        EmbeddedStack(data_dir, kafka_port=busy_port).start()
    assert "Address in use" in err.value.log_tail


def test_occupied_postgres_port_raises_and_stops_the_broker(stack_dir: Path, busy_port: int) -> None:
    stack = EmbeddedStack(stack_dir, postgres_port=busy_port)
    with pytest.raises(ServerStartError) as err:
        stack.start()
    assert err.value.server == "postgres"
    assert "could not bind" in err.value.log_tail or "could not create any TCP/IP sockets" in err.value.log_tail
    assert not is_alive(stack.pids["kafka"])


def test_cli_down_stops_a_stack_started_by_another_process(stack_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    up = subprocess.run(
        [sys.executable, "-m", "torghut_embedded.cli", "up", "--data-dir", str(stack_dir), "--no-topics"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert str(stack_dir / "stack.env") in up.stdout
    recorded = json.loads((stack_dir / "stack.json").read_text())
    pids = recorded["pids"]
    assert all(is_alive(pid) for pid in pids.values())  # detached: outlived the `up` command

    assert cli.main(["status", "--data-dir", str(stack_dir)]) == 0
    assert recorded["kafka_bootstrap"] in capsys.readouterr().out

    assert cli.main(["down", "--data-dir", str(stack_dir)]) == 0
    assert not any(is_alive(pid) for pid in pids.values())
    assert cli.main(["status", "--data-dir", str(stack_dir)]) == 1
    assert cli.main(["down", "--data-dir", str(stack_dir)]) == 0  # idempotent
    assert "not running" in capsys.readouterr().out


def test_cli_reports_a_missing_stack(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--data-dir", str(data_dir / "nothing")]) == 2
    assert "no stack was started there" in capsys.readouterr().err
