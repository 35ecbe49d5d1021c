"""Fixtures: per-test topics, a fresh ClickHouse database (18.16), and a sink pointed at both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clickhouse_driver import Client
from torghut_clickhouse_sink.app import SinkService, build_service
from torghut_clickhouse_sink.settings import SinkSettings
from torghut_contracts import topics
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_runtime.testing import create_topics_for, test_settings


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.MARKET_BARS, topics.TA_SIGNALS)
    return topic_namespace


@pytest.fixture
def clickhouse(clickhouse_server: ClickHouseServer, clickhouse_database: str) -> Iterator[Client]:
    """A client of the test's own (empty) ClickHouse database, to look at what the sink wrote."""
    client = Client(clickhouse_server.host, port=clickhouse_server.tcp_port, database=clickhouse_database)
    yield client
    client.disconnect()


@pytest.fixture
def make_service(kafka_bootstrap: str, fresh_database_url: str, prefix: str, clickhouse_server: ClickHouseServer,
                 clickhouse_database: str) -> Callable[..., SinkService]:
    def make(**overrides: Any) -> SinkService:
        values: dict[str, Any] = {
            "clickhouse_url": clickhouse_server.url(clickhouse_database), "clickhouse_sink_probe_interval_s": 0.05,
            "clickhouse_sink_timeout_s": 5.0, **overrides}
        settings = test_settings(SinkSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                                 topic_prefix=prefix, service_name=values.pop("service_name", "clickhouse-sink"),
                                 **values)
        return build_service(settings, configure_logs=False)
    return make
