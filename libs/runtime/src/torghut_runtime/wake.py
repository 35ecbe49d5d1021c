"""How a commit tells a loop there is work: the loop sleeps until its period ends or a reason comes."""

from __future__ import annotations

import asyncio
import contextlib


class Wake:
    """An event with reasons: a loop sleeps until its period ends or someone names a reason to run."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._reasons: set[str] = set()

    def notify(self, reason: str) -> None:
        self._reasons.add(reason)
        self._event.set()

    @property
    def named(self) -> frozenset[str]:
        """The reasons named and not yet served."""
        return frozenset(self._reasons)

    def drain(self) -> set[str]:
        """Forget the reasons named so far (they are being served now)."""
        self._event.clear()
        reasons, self._reasons = self._reasons, set()
        return reasons

    async def wait(self, timeout: float) -> set[str]:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives with the
        # wake-up, and a stop would then wait for ever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()
        reasons, self._reasons = self._reasons or {"timer"}, set()
        return reasons
