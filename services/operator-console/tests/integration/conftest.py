"""Fixtures: the console's topics under a per-test prefix, and the console itself behind real uvicorn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_embedded.asgi import serve
from torghut_operator_console.app import ConsoleService, build_service
from torghut_operator_console.settings import ConsoleSettings
from torghut_runtime.testing import create_topics_for, produce, test_settings

OPERATOR_PASSWORD = "operator-password-1"
VIEWER_PASSWORD = "viewer-password-12"
READ = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED,
        topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS, topics.CONTROL, topics.WHITEPAPER_RUNS, topics.LANE_RUNS)


@dataclass
class RunningConsole:
    service: ConsoleService
    url: str
    bootstrap: str
    prefix: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, follow_redirects=False)

    async def send(self, spec: Any, message: BaseModel, *, correlation_id: str | None = None,
                   cause: MessageHeaders | None = None, message_id: str | None = None) -> MessageHeaders:
        headers = MessageHeaders.new(spec.name, correlation_id=correlation_id, cause=cause, message_id=message_id)
        await produce(self.bootstrap, self.prefix + spec.name, message, key=spec.key(message), headers=headers)
        return headers


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, *READ)
    return topic_namespace


ConsoleFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningConsole]]


@pytest.fixture
def console(kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> ConsoleFactory:
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningConsole]:
        values: dict[str, Any] = {"console_mode": "demo", "console_operator_password": OPERATOR_PASSWORD,
                                  "console_push_interval_ms": 50, "console_poll_interval_s": 0.5, **overrides}
        database_url = values.pop("database_url", fresh_database_url)
        bootstrap = values.pop("kafka_bootstrap", kafka_bootstrap)
        settings = test_settings(ConsoleSettings, kafka_bootstrap=bootstrap, database_url=database_url,
                                 topic_prefix=prefix, service_name="operator-console", **values)
        service = build_service(settings, configure_logs=False)
        async with service.runtime.running(), serve(service.runtime.asgi()) as url:
            yield RunningConsole(service, url, bootstrap, prefix)
    return start
