"""The fault header grammar the decision-client relies on, and settings that fail with the variable's name."""

from __future__ import annotations

import pytest
from torghut_decision_engine.domain.faults import Fault, FaultHeaderError, parse_fault
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_runtime import ConfigError, load_settings

REQUIRED = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db"}


@pytest.mark.parametrize(("header", "fault"), [
    (None, None), ("", None), ("stall", Fault("stall")), ("error", Fault("error")),
    ("malformed-final", Fault("malformed-final")), ("slow:2.5", Fault("slow", seconds=2.5)),
    ("SLOW:0", Fault("slow", seconds=0)), ("drop-after:3", Fault("drop-after", events=3)),
])
def test_fault_header_values(header: str | None, fault: Fault | None) -> None:
    assert parse_fault(header) == fault
    if fault is not None:
        assert parse_fault(fault.header_value()) == fault, "stored with the run and read back"


@pytest.mark.parametrize("header", ["explode", "slow", "slow:-1", "slow:nan", "slow:abc", "drop-after:0",
                                    "drop-after:x", "drop-after:-2", "slow:99999"])
def test_unknown_or_malformed_faults_are_refused(header: str) -> None:
    with pytest.raises(FaultHeaderError, match="x-torghut-fault"):
        parse_fault(header)


def test_defaults() -> None:
    settings = load_settings(DecisionEngineSettings, **REQUIRED)
    assert settings.schema_name == "decision_engine"
    assert settings.decision_engine_heartbeat_s == 10
    assert settings.decision_engine_fault_injection is False
    assert settings.dspy_enabled is False
    assert settings.required_domains_for("any") == {"technicals-regime", "risk-exposure-sizing", "market-context"}


def test_csv_and_json_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECISION_ENGINE_REQUIRED_DOMAINS", "technicals-regime, news-sentiment")
    monkeypatch.setenv("DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS", '{"macd-rsi-v1": ["market-context"]}')
    monkeypatch.setenv("DECISION_ENGINE_LEAN_SYMBOLS", "nvda,AAPL")
    monkeypatch.setenv("DECISION_ENGINE_LLM_BASE_URL", "http://lm.local:8000/v1/chat/completions/")
    monkeypatch.setenv("DECISION_ENGINE_LLM_MODEL", "tiny")
    monkeypatch.setenv("DECISION_ENGINE_DSPY_ARTIFACT_HASH", "a" * 64)
    settings = load_settings(DecisionEngineSettings, **REQUIRED)
    assert settings.required_domains_for("other") == {"technicals-regime", "news-sentiment"}
    assert settings.required_domains_for("macd-rsi-v1") == {"market-context"}
    assert settings.decision_engine_lean_symbols == ["NVDA", "AAPL"]
    assert settings.decision_engine_llm_base_url == "http://lm.local:8000/v1"
    assert settings.dspy_enabled


@pytest.mark.parametrize(("env", "value", "named"), [
    ("DECISION_ENGINE_REQUIRED_DOMAINS", "technicals, market-context", "DECISION_ENGINE_REQUIRED_DOMAINS"),
    ("DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS", '{"s": ["astrology"]}', "DECISION_ENGINE_STRATEGY_REQUIRED_DOMAINS"),
    ("DECISION_ENGINE_HEARTBEAT_S", "0.01", "DECISION_ENGINE_HEARTBEAT_S"),
    ("DECISION_ENGINE_HEARTBEAT_S", "30", "DECISION_ENGINE_HEARTBEAT_S"),
    ("DECISION_ENGINE_LLM_BASE_URL", "ftp://lm", "DECISION_ENGINE_LLM_BASE_URL"),
    ("DECISION_ENGINE_LLM_BASE_URL", "http://lm:1/v1", "DECISION_ENGINE_LLM_MODEL"),
    ("DECISION_ENGINE_LEAN_POLICY", "some", "DECISION_ENGINE_LEAN_POLICY"),
    ("DECISION_ENGINE_DSPY_ARTIFACT_HASH", "618F4ED1", "DECISION_ENGINE_DSPY_ARTIFACT_HASH"),
])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=named):
        load_settings(DecisionEngineSettings, **REQUIRED)


def test_a_bad_setting_stops_start_up_with_exit_code_2(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from torghut_decision_engine.__main__ import main

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("DECISION_ENGINE_RUN_TIMEOUT_S", "-1")
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "KAFKA_BOOTSTRAP_SERVERS is required" in err and "DECISION_ENGINE_RUN_TIMEOUT_S" in err


@pytest.mark.parametrize(("env", "clock", "deprecated"), [
    ({"CLOCK": "event"}, "event", []),
    ({"DECISION_ENGINE_CLOCK": "event"}, "event", ["DECISION_ENGINE_CLOCK"]),   # warned about at start-up
])
def test_clock_and_its_former_name(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: str,
                                   deprecated: list[str]) -> None:
    for name in ("CLOCK", "DECISION_ENGINE_CLOCK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(DecisionEngineSettings, **REQUIRED)
    assert settings.clock == clock and [r.old for r in settings.renamed_variables_in_use] == deprecated


def test_clock_and_decision_engine_clock_disagreeing_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "wall")
    monkeypatch.setenv("DECISION_ENGINE_CLOCK", "event")
    with pytest.raises(ConfigError, match="CLOCK='wall' and the deprecated DECISION_ENGINE_CLOCK='event'"):
        load_settings(DecisionEngineSettings, **REQUIRED)
