"""Settings fail with the variable's name and build the core's config."""

from __future__ import annotations

from datetime import date, time

import pytest
from torghut_runtime import ConfigError, load_settings
from torghut_signal_trigger.settings import SignalTriggerSettings

BASE = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db"}


def test_settings_parse_lists_and_build_the_core_config() -> None:
    settings = load_settings(SignalTriggerSettings, **BASE, session_holidays="2026-07-03, 2026-12-25",
                             session_early_closes="2026-11-27@13:00", signal_allowed_sources="ta,ta-1m",
                             clock="event")
    session = settings.trading_session()
    assert session.holidays == {date(2026, 7, 3), date(2026, 12, 25)}
    assert session.early_closes == {date(2026, 11, 27): time(13, 0)}
    gates = settings.gate_config()
    assert gates.allowed_sources == {"ta", "ta-1m"} and gates.max_future_skew is None


@pytest.mark.parametrize(("overrides", "named"), [
    ({"signal_source": "clickhouse"}, "CLICKHOUSE_URL is required"),
    ({"session_holidays": "2026-13-01"}, "SESSION_HOLIDAYS"),
    ({"session_early_closes": "2026-11-27 13:00"}, "SESSION_EARLY_CLOSES"),
    ({"session_timezone": "Mars/Olympus"}, "SESSION_TIMEZONE"),
    ({"session_open": "16:30"}, "SESSION_OPEN must be before SESSION_CLOSE"),
    ({"clock": "replay"}, "CLOCK"),
    ({"trigger_mode": "backtest"}, "TRIGGER_MODE 'backtest' is not one of"),      # the deprecated name, named
    ({"clickhouse_start_at": "2026-02-12T14:30:00"}, "CLICKHOUSE_START_AT"),
    ({"signal_max_spread_bps": "-1"}, "SIGNAL_MAX_SPREAD_BPS"),
])
def test_bad_settings_name_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(SignalTriggerSettings, **BASE, **overrides)


@pytest.mark.parametrize(("env", "clock", "deprecated"), [
    ({}, "wall", []),
    ({"CLOCK": "event"}, "event", []),
    ({"TRIGGER_MODE": "replay"}, "event", ["TRIGGER_MODE"]),      # the old words, read as the new ones
    ({"TRIGGER_MODE": "live"}, "wall", ["TRIGGER_MODE"]),
    ({"CLOCK": "event", "TRIGGER_MODE": "replay"}, "event", ["TRIGGER_MODE"]),
])
def test_clock_and_its_former_name(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: str,
                                   deprecated: list[str]) -> None:
    for name in ("CLOCK", "TRIGGER_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(SignalTriggerSettings, **BASE)
    assert settings.clock == clock and [r.old for r in settings.renamed_variables_in_use] == deprecated
    assert (settings.gate_config().max_future_skew is None) is (clock == "event")


def test_clock_and_trigger_mode_disagreeing_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "wall")
    monkeypatch.setenv("TRIGGER_MODE", "replay")
    with pytest.raises(ConfigError, match="CLOCK='wall' and the deprecated TRIGGER_MODE='replay'"):
        load_settings(SignalTriggerSettings, **BASE)
