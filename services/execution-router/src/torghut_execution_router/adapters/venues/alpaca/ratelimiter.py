"""The async side of the token bucket, fed by rate-limit headers from alpaca-py's worker threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping

from ....domain.ratelimit import TokenBucket


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class RateLimiter:
    def __init__(self, per_minute: int, *, min_wait_s: float, max_wait_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._bucket = TokenBucket.per_minute(per_minute, clock())
        self._lock = threading.Lock()
        self.min_wait_s = min_wait_s
        self.max_wait_s = max_wait_s

    async def acquire(self) -> bool:
        """Wait for a token; True if it had to wait."""
        waited = False
        while True:
            with self._lock:
                wait = self._bucket.take(self._clock())
            if wait <= 0:
                return waited
            waited = True
            await asyncio.sleep(min(wait, self.max_wait_s))

    def observe(self, headers: Mapping[str, str]) -> None:
        """``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (unix seconds) from any response."""
        remaining = _int(headers.get("X-RateLimit-Remaining") or headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset"))
        if remaining is None:
            return
        with self._lock:
            self._bucket.observe(self._clock(), remaining=remaining, reset_at=float(reset) if reset else None)

    def throttled(self, headers: Mapping[str, str]) -> float:
        """A 429: how long to wait before trying again (from the reset header, bounded)."""
        reset = _int(headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset"))
        retry_after = _int(headers.get("Retry-After") or headers.get("retry-after"))
        now = self._clock()
        reset_at = float(reset) if reset is not None else (now + retry_after if retry_after is not None else None)
        with self._lock:
            return self._bucket.throttled(now, reset_at=reset_at, min_wait_s=self.min_wait_s,
                                          max_wait_s=self.max_wait_s)
