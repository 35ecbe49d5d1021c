"""Percentiles and the small statistics every benchmark reports."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100): a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max (and the count) of latencies in milliseconds, rounded for reading."""
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 2),
        "p99_ms": round(percentile(samples_ms, 99), 2),
        "max_ms": round(max(samples_ms), 2) if samples_ms else math.nan,
    }


async def rate_until(progress: Callable[[], int], total: int, timeout: float) -> float:
    """Records per second between the first and the last record handled.

    ``progress`` is polled every 10 ms: it must be cheap (a counter, not a registry collection), or
    the poller itself would take CPU from the service measured in the same process.
    """
    deadline = time.monotonic() + timeout
    first_at: float | None = None
    while True:
        done = progress()
        now = time.perf_counter()
        if first_at is None and done >= 1:
            if done >= total:
                raise ValueError(f"all {total} records were handled between two polls: too few to time")
            first_at, first_done = now, done
        if done >= total:
            assert first_at is not None
            return (total - first_done) / max(now - first_at, 1e-9)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done}/{total} records handled in {timeout:.0f} s")
        await asyncio.sleep(0.01)
