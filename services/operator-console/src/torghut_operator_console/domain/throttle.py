"""Failed logins, counted per client address: after too many in a window, that address waits.

A password is the console's only lock, so guessing it must be slow. An address with ``limit``
failed logins within ``window_s`` is refused (429, ``Retry-After``) until the oldest of them leaves
the window, whatever password it sends meanwhile; a successful login clears its count. The count
lives in the replica's memory: each replica throttles on its own, which bounds a guesser at
``limit`` tries per window per replica. At most ``max_clients`` addresses are remembered, the
stalest forgotten first, so a flood of addresses costs bounded memory.

Pure: the caller passes the time, so tests need no clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    limit: int = 5
    window_s: float = 300.0
    max_clients: int = 10_000
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, client: str, now: float) -> float | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.limit:
            return None
        return max(failures[0] + self.window_s - now, 0.0) or None

    def failed(self, client: str, now: float) -> None:
        failures = self._recent(client, now)
        if failures is None:
            failures = self._failures[client] = deque()
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        failures.append(now)
        self._failures.move_to_end(client)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures
