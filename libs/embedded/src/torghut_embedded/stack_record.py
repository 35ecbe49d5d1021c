"""The on-disk record of a stack: ``stack.json`` (state, endpoints, PIDs) and ``stack.env``.

Kept apart from :class:`~torghut_embedded.stack.EmbeddedStack` because any process reads it: the
``torghut-infra`` CLI stops or describes a stack some other process started, by what is recorded here.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import StackNotFound
from .processes import ProcessRecord, is_alive, stop_processes

STACK_JSON = "stack.json"
STACK_ENV = "stack.env"


def now_iso() -> str:
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
    started_at: str = field(default_factory=now_iso)
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
        info.stopped_at = now_iso()
    write_stack(info)
    return outcome
