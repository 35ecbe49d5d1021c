"""Reading the decision engine's SSE stream over real HTTP (raw lines, so heartbeat comments are counted),
for the tests of its endpoint (test_http_runs_*.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

NORMAL_ORDER = (["decision.accepted", "decision.progress"] + ["decision.progress"] * 6
                + ["decision.context_ready", "decision.progress", "decision.analysis_complete", "decision.final"])


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    heartbeats: int = 0
    body: str = ""

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.events]

    @property
    def ids(self) -> list[int]:
        return [event_id for event_id, _, _ in self.events]

    def data(self, name: str) -> dict[str, Any]:
        return next(data for _, event, data in self.events if event == name)


async def read_stream(client: httpx.AsyncClient, method: str, url: str, *, body: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None, stop_after: int | None = None) -> Stream:
    """Read raw SSE lines (so heartbeat comments are counted); ``stop_after`` disconnects early."""
    async with client.stream(method, url, json=body, headers=headers) as response:
        stream = Stream(response.status_code, response.headers)
        if response.status_code != 200:
            stream.body = (await response.aread()).decode()
            return stream
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                stream.heartbeats += 1
            elif line == "":
                if current:
                    stream.events.append((int(current["id"]), current["event"], json.loads(current["data"])))
                    current = {}
                    if stop_after is not None and len(stream.events) >= stop_after:
                        break
            else:
                name, _, value = line.partition(": ")
                current[name] = value
    return stream


BodyFactory = Callable[..., dict[str, Any]]
EngineServer = Callable[..., Any]
"""The ``engine_server`` fixture: an async context manager yielding (base URL, engine)."""
