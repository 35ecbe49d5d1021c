"""Fixtures: local stand-ins (PDF host, Jangar, S3) and a whitepaper-ingest service on the real broker and Postgres."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from torghut_contracts import topics
from torghut_runtime.testing import create_topics_for, test_settings
from torghut_runtime.tracing import build_tracer_provider
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.settings import WhitepaperSettings
from torghut_whitepaper_ingest.testing import SeaweedS3, StubHttpServer

WEBHOOK_SECRET = "webhook-test-secret"
CONTROL_TOKEN = "control-test-token"


@pytest.fixture
def stub_http() -> Iterator[StubHttpServer]:
    server = StubHttpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """One real S3 server (``weed mini``) for the session, all ports on 127.0.0.1."""
    data_dir = Path(tempfile.mkdtemp(prefix="torghut-weed-"))
    server = SeaweedS3(data_dir).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def wp_topics(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.GITHUB_ISSUE_EVENTS, topics.WHITEPAPER_RUNS)
    return topic_namespace


ServiceFactory = Callable[..., WhitepaperService]


@pytest.fixture
def make_service(kafka_bootstrap: str, fresh_database_url: str, wp_topics: str, stub_http: StubHttpServer,
                 tmp_path: Path) -> ServiceFactory:
    """A service wired to the test broker, a fresh database, the stub server and a temp PDF directory."""

    def build(**overrides: Any) -> WhitepaperService:
        values: dict[str, Any] = {
            "whitepaper_workflow_enabled": True,
            "github_webhook_secret": WEBHOOK_SECRET,
            "whitepaper_workflow_api_token": CONTROL_TOKEN,
            "whitepaper_pdf_allowed_hosts": "127.0.0.1",
            "whitepaper_agentrun_submit_url": stub_http.url("/v1/agent-runs"),
            "whitepaper_agentrun_retry_backoff_seconds": 0.01,
            "whitepaper_agentrun_max_attempts": 3,
            "whitepaper_download_timeout_seconds": 5,
            "whitepaper_local_store_dir": tmp_path / "pdfs",
            "whitepaper_outbox_sweep_seconds": 0.2,
        }
        flag_settings = overrides.pop("flag_settings", None)
        values.update(overrides)
        settings = test_settings(WhitepaperSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                                 topic_prefix=wp_topics, service_name="whitepaper-ingest", **values)
        return WhitepaperService(settings, tracer_provider=build_tracer_provider("whitepaper-ingest", None),
                                 configure_logs=False, flag_settings=flag_settings)

    return build


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[WhitepaperService], httpx.AsyncClient]]:
    """An HTTP client speaking ASGI to a service's app (the service itself is started by the test)."""
    clients: list[httpx.AsyncClient] = []

    def make(service: WhitepaperService) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.runtime.asgi()), base_url="http://wp")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
