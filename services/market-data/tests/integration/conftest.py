"""Fixtures: the fake Alpaca on loopback, per-test topics, and a market-data service pointed at both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_market_data.app import MarketDataService, build_service
from torghut_market_data.settings import MarketDataSettings
from torghut_market_data.testing import KEY, SECRET, FakeMarketData, serve_fake
from torghut_runtime.testing import create_topics_for, test_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeMarketData]:
    async with serve_fake() as served:
        yield served


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.MARKET_BARS, topics.MARKET_QUOTES)
    return topic_namespace


@pytest.fixture
def make_service(kafka_bootstrap: str, fresh_database_url: str, prefix: str,
                 fake: FakeMarketData) -> Callable[..., MarketDataService]:
    def make(**overrides: Any) -> MarketDataService:
        values: dict[str, Any] = {
            "market_data_symbols": "AAPL,MSFT", "market_data_stream_url": fake.stream_url,
            "market_data_rest_url": fake.base_url, "alpaca_api_key_id": KEY, "alpaca_api_secret_key": SECRET,
            "market_data_reconnect_min_s": 0.05, **overrides}
        settings = test_settings(MarketDataSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                                 topic_prefix=prefix, service_name="market-data", **values)
        return build_service(settings, configure_logs=False)
    return make


def counted(service: MarketDataService, name: str, **labels: str) -> float:
    return service.runtime.registry.get_sample_value(name, labels) or 0.0
