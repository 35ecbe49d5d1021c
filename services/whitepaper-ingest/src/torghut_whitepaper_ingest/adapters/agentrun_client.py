"""Submitting the AgentRun to Jangar's ``/v1/agent-runs``: at least once, safely, thanks to the idempotency key.

Every attempt of one dispatch sends the same ``Idempotency-Key`` and body, so a retry after an
ambiguous outcome (a timeout after the request left) can at worst find the run already created.
Connection errors, timeouts, 408/425/429 and 5xx are retried with exponential backoff; any other
answer is final. After the last attempt the dispatch fails with the last reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

log = structlog.get_logger("torghut.whitepaper.agentrun")
RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class AgentRunAccepted:
    name: str
    uid: str | None
    phase: str
    attempts: int


class AgentRunDispatchFailed(Exception):
    def __init__(self, code: str, attempts: int) -> None:
        super().__init__(code)
        self.code = code
        self.attempts = attempts

    @property
    def reason(self) -> str:
        return f"agentrun_dispatch_failed:{self.code} after {self.attempts} attempt(s)"


class _Retryable(Exception):
    pass


class AgentRunClient:
    """One pooled HTTP client for every dispatch (a client per dispatch reloaded the CA bundle each time)."""

    def __init__(self, submit_url: str, *, token: str | None, timeout_s: float, max_attempts: int,
                 backoff_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.submit_url = submit_url
        self.token = token
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def submit(self, body: dict[str, Any], idempotency_key: str) -> AgentRunAccepted:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        last = "unknown"
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self._attempt(body, headers, attempt)
            except _Retryable as exc:
                last = str(exc)
                log.warning("agentrun dispatch failed; will retry" if attempt < self.max_attempts
                            else "agentrun dispatch failed; giving up", idempotency_key=idempotency_key,
                            attempt=attempt, max_attempts=self.max_attempts, error=last)
                if attempt < self.max_attempts:
                    await self._sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
        raise AgentRunDispatchFailed(last, self.max_attempts)

    async def _attempt(self, body: dict[str, Any], headers: dict[str, str], attempt: int) -> AgentRunAccepted:
        try:
            response = await self._client.post(self.submit_url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise _Retryable("timeout") from None
        except httpx.HTTPError as exc:
            raise _Retryable(f"transport_error:{type(exc).__name__}") from None
        status = response.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            raise _Retryable(f"http_{status}")
        if not 200 <= status < 300:
            raise AgentRunDispatchFailed(f"http_{status}", attempt)
        try:
            document = response.json()
        except ValueError:
            raise AgentRunDispatchFailed("invalid_json_response", attempt) from None
        resource = _object(_object(document).get("resource")) or _object(document)
        metadata = _object(resource.get("metadata"))
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise AgentRunDispatchFailed("jangar_response_missing_agentrun_name", attempt)
        phase = _object(resource.get("status")).get("phase")
        uid = metadata.get("uid")
        return AgentRunAccepted(name=name, uid=uid if isinstance(uid, str) else None,
                                phase=phase if isinstance(phase, str) and phase else "queued", attempts=attempt)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
