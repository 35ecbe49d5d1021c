"""Peak resident memory of a process, from the kernel's own high-water mark.

``VmHWM`` in ``/proc/<pid>/status`` is the largest resident set the process ever had, so reading it
once at the end of a run catches a peak that a sampler would miss between two samples.
"""

from __future__ import annotations

from pathlib import Path


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
