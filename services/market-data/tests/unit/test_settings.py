"""Settings fail naming the variable; the universe is parsed and checked."""

from __future__ import annotations

from typing import Any

import pytest
from torghut_market_data.settings import MarketDataSettings
from torghut_runtime import ConfigError, load_settings

BASE = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db",
        "alpaca_api_key_id": "k", "alpaca_api_secret_key": "s"}


def test_symbols_are_split_and_the_source_labels_the_feed() -> None:
    settings = load_settings(MarketDataSettings, **BASE, market_data_symbols="AAPL, BRK.B,AAPL", market_data_feed="sip")
    assert settings.market_data_symbols == ("AAPL", "BRK.B") and settings.source_label == "alpaca-sip"


@pytest.mark.parametrize(("overrides", "named"), [
    ({"market_data_symbols": ""}, "MARKET_DATA_SYMBOLS is required"),
    ({"market_data_symbols": "AAPL,aapl"}, "MARKET_DATA_SYMBOLS"),
    ({"market_data_symbols": "AAPL", "market_data_feed": "otc"}, "MARKET_DATA_FEED"),
    ({"market_data_symbols": "AAPL", "alpaca_api_key_id": ""}, "ALPACA_API_KEY_ID"),
    ({"market_data_symbols": "AAPL", "market_data_stream_url": "http://x"}, "MARKET_DATA_STREAM_URL"),
    ({"market_data_source": "file"}, "MARKET_DATA_FILE is required"),
    ({"market_data_symbols": "AAPL", "market_data_quotes_file": "q.csv"}, "MARKET_DATA_QUOTES_FILE"),
])
def test_bad_config_names_the_variable(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as failed:
        load_settings(MarketDataSettings, **{**BASE, **overrides})
    assert named in str(failed.value)
