"""Stopping by PID: escalation to SIGKILL, and never signalling a process that reused a PID."""

from __future__ import annotations

import dataclasses
import signal
import socket
import time
from pathlib import Path

from torghut_embedded.errors import log_tail
from torghut_embedded.processes import free_ports, is_alive, spawn, stop_processes


def test_a_process_ignoring_its_stop_signal_is_killed(tmp_path: Path) -> None:
    proc, record = spawn(
        "stubborn",
        ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"],
        log_path=tmp_path / "stubborn.log",
    )
    assert record.stop_signal == "SIGTERM"
    deadline = time.monotonic() + 5
    while "ready" not in log_tail(tmp_path / "stubborn.log") and time.monotonic() < deadline:
        time.sleep(0.01)  # the trap must be installed before the stop signal arrives

    outcome = stop_processes([record], grace_s=0.3, children={proc.pid: proc})

    assert outcome == {"stubborn": "killed"}
    assert proc.returncode == -signal.SIGKILL
    assert not is_alive(record.pid)


def test_a_reused_pid_is_left_alone(tmp_path: Path) -> None:
    proc, record = spawn("sleeper", ["sleep", "30"], log_path=tmp_path / "sleeper.log")
    try:
        assert record.start_ticks is not None
        impostor = dataclasses.replace(record, start_ticks=record.start_ticks - 1)
        assert stop_processes([impostor], grace_s=0.1) == {"sleeper": "not running"}
        assert proc.poll() is None  # untouched: its start time does not match the record
    finally:
        assert stop_processes([record], children={proc.pid: proc}) == {"sleeper": "stopped"}


def test_log_tail_keeps_the_last_lines_without_colour_codes(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"\x1b[31mline {i}\x1b[0m\n" for i in range(100)))
    tail = log_tail(log).splitlines()
    assert tail[0] == "line 60" and tail[-1] == "line 99" and len(tail) == 40
    assert "unreadable" in log_tail(tmp_path / "missing.log")


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(40)
    assert len(set(ports)) == 40
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
