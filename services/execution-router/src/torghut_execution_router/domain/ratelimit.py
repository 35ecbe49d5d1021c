"""A token bucket for Alpaca's 200 trading requests per minute, corrected by the rate-limit headers.

Pure: the caller passes the clock. The bucket refills continuously; the venue's own
``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` can only make it stricter (another process may share
the account's budget), never looser.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    capacity: float
    refill_per_s: float
    tokens: float = -1.0
    updated_at: float = 0.0
    blocked_until: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    @classmethod
    def per_minute(cls, limit: int, now: float) -> TokenBucket:
        return cls(capacity=float(limit), refill_per_s=limit / 60.0, updated_at=now)

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * self.refill_per_s)
            self.updated_at = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 if granted, else how many seconds to wait before asking again."""
        if now < self.blocked_until:
            return self.blocked_until - now
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.refill_per_s

    def observe(self, now: float, *, remaining: int | None, reset_at: float | None) -> None:
        """Apply the venue's view: fewer tokens if it says so; none until ``reset_at`` when it says 0."""
        self._refill(now)
        if remaining is not None:
            self.tokens = min(self.tokens, float(max(remaining, 0)))
            if remaining <= 0 and reset_at is not None and reset_at > now:
                self.blocked_until = max(self.blocked_until, reset_at)

    def throttled(self, now: float, *, reset_at: float | None, min_wait_s: float, max_wait_s: float) -> float:
        """The venue answered 429: empty the bucket and say how long to wait (bounded)."""
        self._refill(now)
        self.tokens = 0.0
        wait = (reset_at - now) if reset_at is not None else 60.0 / max(self.capacity, 1.0)
        wait = min(max(wait, min_wait_s), max_wait_s)
        self.blocked_until = max(self.blocked_until, now + wait)
        return wait
