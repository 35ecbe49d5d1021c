"""What the kernel knows about a process: peak resident memory and CPU time, from ``/proc``.

``VmHWM`` in ``/proc/<pid>/status`` is the largest resident set the process ever had, so reading it
once at the end of a run catches a peak that a sampler would miss between two samples. CPU time
(user + system, ``/proc/<pid>/stat``) read before and after a phase gives the CPU each service
spent on it: on a machine with two shared cores, CPU per message is latency.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    """``VmHWM`` of ``pid`` in MiB, or ``None`` when the process is gone or /proc is unavailable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far (threads included), or ``None`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def cpu_seconds_tree(pid: int) -> float | None:
    """CPU seconds of ``pid``, its live descendants and its reaped children (Postgres forks a backend
    per connection, and the postmaster's ``cutime``/``cstime`` keep the time of those that exited)."""
    from torghut_embedded.processes import descendants

    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()
    total = sum(int(f) for f in fields[11:15]) / _TICKS_PER_S
    return total + sum(cpu_seconds(child) or 0.0 for child in descendants(pid))
