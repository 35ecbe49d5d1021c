"""CLOCK, formerly DECISION_CLOCK: the old name still works (warned about at start-up); disagreeing stops it."""

from __future__ import annotations

import pytest
from torghut_decision_client.settings import DecisionClientSettings
from torghut_runtime import ConfigError, load_settings

BASE = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOCK", "DECISION_CLOCK"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("env", "clock", "deprecated"), [
    ({}, "wall", []),
    ({"CLOCK": "event"}, "event", []),
    ({"DECISION_CLOCK": "event"}, "event", ["DECISION_CLOCK"]),
    ({"CLOCK": "event", "DECISION_CLOCK": "event"}, "event", ["DECISION_CLOCK"]),
])
def test_clock_and_its_former_name(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: str,
                                   deprecated: list[str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(DecisionClientSettings, **BASE)
    assert settings.clock == clock and [r.old for r in settings.renamed_variables_in_use] == deprecated


def test_clock_and_decision_clock_disagreeing_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "wall")
    monkeypatch.setenv("DECISION_CLOCK", "event")
    with pytest.raises(ConfigError, match="CLOCK='wall' and the deprecated DECISION_CLOCK='event'"):
        load_settings(DecisionClientSettings, **BASE)
