"""Spawn, identify and stop server processes by PID.

Why this module exists instead of ``Popen.terminate()``:

* ``torghut-infra down`` must stop a stack started by *another* process, so stopping works from
  a PID recorded in ``stack.json``. To never signal an unrelated process that later reused the PID,
  the record also keeps the kernel start time of the process (``/proc/<pid>/stat`` field 22) and
  a PID only counts as ours while that start time matches.
* Each server runs in its own session (``start_new_session``): Ctrl-C in the terminal reaches the
  launcher, which stops the servers in order, instead of hitting the servers directly; and the
  whole process group (Postgres forks backends) can be SIGKILLed if the graceful stop times out.
* Optionally a child is tied to its parent thread with ``PR_SET_PDEATHSIG`` so a crashed or
  SIGKILLed test run does not leave orphan servers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL_S = 0.02


@dataclass(frozen=True)
class ProcessRecord:
    """What ``stack.json`` remembers about one server process."""

    name: str
    pid: int
    start_ticks: int | None
    stop_signal: str
    log: str
    argv: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(raw["name"]),
            pid=int(raw["pid"]),
            start_ticks=None if raw.get("start_ticks") is None else int(raw["start_ticks"]),
            stop_signal=str(raw.get("stop_signal", "SIGTERM")),
            log=str(raw.get("log", "")),
            argv=[str(a) for a in raw.get("argv", [])],
        )


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently free TCP port on ``host``."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports: each is held until all are chosen, since a port released by one
    ``free_port`` call can be the next call's answer (two services of one suite once got the same)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _read_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (index 0 is field 3, the state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks since boot, or None when unavailable."""
    fields = _read_stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def is_alive(pid: int, ticks: int | None = None) -> bool:
    """True if ``pid`` runs (zombies count as dead) and, when given, has the same start time."""
    if sys.platform.startswith("linux"):
        fields = _read_stat(pid)
        if fields is None or fields[0] in ("Z", "X", "x"):
            return False
        return ticks is None or int(fields[19]) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) PIDs whose process group is ``pgid`` (Linux only; else ``[]``)."""
    members: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return members
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _read_stat(int(entry.name))
        if fields is not None and fields[0] not in ("Z", "X", "x") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def descendants(pid: int) -> list[int]:
    """Live PIDs below ``pid`` in the process tree (Linux only; else ``[]``).

    Needed because Postgres backends call ``setsid()``: they are not in the postmaster's group.
    """
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            fields = _read_stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X", "x"):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pdeathsig_preexec(sig: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when the spawning thread dies.

    The libc function is resolved here, in the parent, so the forked child only makes one foreign
    call. Only used from the main thread: the kernel fires the signal when the *thread* that forked
    exits, which for a worker thread would kill the server far too early.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def _set() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return _set


def as_user(user: str | None) -> dict[str, Any]:
    """``Popen`` keyword arguments that fully switch to ``user``: uid, primary gid and no
    supplementary groups. ``user=`` alone keeps gid 0, and a root group match on a 0701 directory
    then *denies* access (group bits are checked before the "other" bits)."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    stop_signal: signal.Signals = signal.SIGTERM,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    tie_to_parent: bool = False,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``argv`` in a new session with stdout+stderr appended to ``log_path``.

    ``user`` switches to that system user (needs root). With ``tie_to_parent`` the child gets
    ``stop_signal`` if the spawning (main) thread dies, so servers never outlive a crashed launcher.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    preexec = _pdeathsig_preexec(int(stop_signal)) if tie_to_parent else None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            **as_user(user),
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
    record = ProcessRecord(
        name=name,
        pid=proc.pid,
        start_ticks=start_ticks(proc.pid),
        stop_signal=stop_signal.name,
        log=str(log_path),
        argv=list(argv),
    )
    return proc, record


def _signal(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_dead(
    records: Iterable[ProcessRecord], deadline: float, children: Mapping[int, subprocess.Popen[bytes]]
) -> list[ProcessRecord]:
    """Poll until every record is dead or ``deadline``; return the ones still alive."""
    pending = list(records)
    while True:
        for rec in pending:
            child = children.get(rec.pid)
            if child is not None:
                child.poll()  # reap our own children so they do not linger as zombies
        alive = [r for r in pending if is_alive(r.pid, r.start_ticks)]
        for rec in pending:
            child = children.get(rec.pid)
            if rec not in alive and child is not None and child.returncode is None:
                # It died between poll() and the /proc read: a zombie now, reaped at once.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=_POLL_INTERVAL_S * 10)
        pending = alive
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(_POLL_INTERVAL_S)


def stop_processes(
    records: Sequence[ProcessRecord],
    *,
    grace_s: float = 10.0,
    kill_grace_s: float = 5.0,
    children: Mapping[int, subprocess.Popen[bytes]] | None = None,
) -> dict[str, str]:
    """Stop every recorded process: its stop signal, then SIGKILL to its group after ``grace_s``.

    Returns ``{name: outcome}`` with outcome ``"not running"``, ``"stopped"``, ``"killed"`` or
    ``"still alive"`` (the last only if even SIGKILL did not work within ``kill_grace_s``).
    """
    kids = dict(children or {})
    outcome: dict[str, str] = {}
    live = [r for r in records if is_alive(r.pid, r.start_ticks)]
    for rec in records:
        if rec not in live:
            outcome[rec.name] = "not running"
            if rec.pid in kids:
                kids[rec.pid].poll()
    for rec in live:
        _signal(rec.pid, int(signal.Signals[rec.stop_signal]), group=False)
    stubborn = _wait_dead(live, time.monotonic() + grace_s, kids)
    for rec in stubborn:
        for child in descendants(rec.pid):
            _signal(child, signal.SIGKILL, group=False)
        _signal(rec.pid, signal.SIGKILL, group=True)
    survivors = _wait_dead(stubborn, time.monotonic() + kill_grace_s, kids)
    for rec in live:
        # Leftovers of the server's own group (e.g. Postgres backends of a killed postmaster).
        # The group id cannot be reused while members exist, so this only hits our processes.
        if group_members(rec.pid):
            _signal(rec.pid, signal.SIGKILL, group=True)
        if rec in survivors:
            outcome[rec.name] = "still alive"
        elif rec in stubborn:
            outcome[rec.name] = "killed"
        else:
            outcome[rec.name] = "stopped"
    return outcome
