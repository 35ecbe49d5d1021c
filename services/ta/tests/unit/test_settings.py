"""TA_* variables become the domain's rules; a bad one stops start-up naming it."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from torghut_runtime import ConfigError, load_settings
from torghut_ta.settings import TaSettings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    return monkeypatch


def test_variables_become_rules(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TA_SYMBOLS", "aapl, MSFT,,")
    environment.setenv("TA_QUOTE_MAX_AGE_S", "3")
    environment.setenv("TA_SESSION_OPEN", "10:00")
    rules = load_settings(TaSettings).rules()
    assert rules.universe == frozenset({"AAPL", "MSFT"})
    assert rules.quote_max_age == timedelta(seconds=3)
    assert rules.session.opens == time(10, 0) and rules.vwap_span == timedelta(minutes=5)


def test_no_universe_means_every_symbol(environment: pytest.MonkeyPatch) -> None:
    assert load_settings(TaSettings).rules().universe is None


def test_a_bad_variable_is_named(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("TA_SESSION_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="TA_SESSION_TIMEZONE"):
        load_settings(TaSettings)
