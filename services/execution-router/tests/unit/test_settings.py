"""Settings: defaults are the embedded paper venue; inconsistent configuration names the variable."""

from __future__ import annotations

import pytest
from torghut_contracts.enums import Adapter
from torghut_execution_router.settings import ExecutionRouterSettings
from torghut_runtime import ConfigError, load_settings

BASE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATABASE_URL": "postgresql://u@h/db"}


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ExecutionRouterSettings:
    for key, value in {**BASE, **env}.items():
        monkeypatch.setenv(key, value)
    return load_settings(ExecutionRouterSettings)


def test_defaults_route_to_the_paper_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOCK", raising=False)
    settings = load(monkeypatch)
    assert settings.execution_primary_adapter is Adapter.PAPER and settings.clock == "wall"
    assert settings.configured_adapters == {Adapter.PAPER}
    assert settings.torghut_account == "paper-main" and settings.schema_name == "execution_router"
    assert settings.account_venue is Adapter.PAPER


@pytest.mark.parametrize(("env", "named"), [
    ({"EXECUTION_PRIMARY_ADAPTER": "alpaca"}, "ALPACA_API_KEY_ID"),
    ({"EXECUTION_PRIMARY_ADAPTER": "lean"}, "LEAN_RUNNER_URL"),
    ({"LEAN_RUNNER_URL": "http://lean:8080"}, "EXECUTION_FALLBACK_ADAPTER"),
    ({"ALPACA_PAPER": "false"}, "ALPACA_LIVE_TRADING_ENABLED"),
    ({"EXECUTION_PRIMARY_ADAPTER": "ib"}, "EXECUTION_PRIMARY_ADAPTER"),
    ({"PAPER_SLIPPAGE_BPS": "-1"}, "PAPER_SLIPPAGE_BPS"),
    ({"CLOCK": "replay"}, "CLOCK"),
])
def test_bad_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                              named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load(monkeypatch, **env)


def test_lean_with_alpaca_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, EXECUTION_PRIMARY_ADAPTER="lean", LEAN_RUNNER_URL="http://lean:8080",
                    ALPACA_API_KEY_ID="k", ALPACA_API_SECRET_KEY="s", EXECUTION_LEAN_SYMBOLS="nvda, aapl")
    assert settings.routing_policy().lean_symbols == {"NVDA", "AAPL"}
    assert settings.account_venue is Adapter.ALPACA
