"""Start-up refuses unsupported configuration with a ConfigError naming the variable; never a default."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from torghut_decision_client.app import build_app
from torghut_decision_client.domain.gate import DspyRuntimeMode
from torghut_decision_client.dspy_artifacts import known_artifacts
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.startup import check_startup
from torghut_runtime import ConfigError, load_settings

KNOWN = next(iter(known_artifacts()))
BASE = {"kafka_bootstrap_servers": "127.0.0.1:1", "database_url": "postgresql://u@127.0.0.1:1/db"}


def settings(**values: object) -> DecisionClientSettings:
    return DecisionClientSettings(**{**BASE, **values})


@pytest.mark.parametrize(("values", "variable"), [
    ({"llm_dspy_runtime_mode": "on"}, "LLM_DSPY_RUNTIME_MODE"),
    ({"llm_dspy_runtime_mode": "shadow"}, "LLM_DSPY_ARTIFACT_HASH"),
    ({"llm_dspy_runtime_mode": "shadow", "llm_dspy_artifact_hash": "xyz"}, "LLM_DSPY_ARTIFACT_HASH"),
    ({"llm_dspy_runtime_mode": "shadow", "llm_dspy_artifact_hash": "0" * 64}, "LLM_DSPY_ARTIFACT_HASH"),
    ({"llm_dspy_runtime_mode": "active", "llm_dspy_artifact_hash": KNOWN}, "DECISION_TRANSPORT"),
    ({"decision_transport": "chat-completions"}, "JANGAR_BASE_URL"),
    ({"llm_dspy_runtime_mode": "shadow", "llm_dspy_artifact_hash": KNOWN}, "JANGAR_BASE_URL"),
])
def test_unsupported_configuration_is_a_config_error(values: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        check_startup(settings(**values))


def test_supported_configurations_open_the_gate() -> None:
    assert check_startup(settings()).mode is DspyRuntimeMode.DISABLED
    shadow = check_startup(settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=KNOWN,
                                    jangar_base_url="http://jangar"))
    assert shadow.mode is DspyRuntimeMode.SHADOW and shadow.artifact is not None
    active = check_startup(settings(decision_transport="dspy", llm_dspy_runtime_mode="active",
                                    llm_dspy_artifact_hash=KNOWN, jangar_base_url="http://jangar/openai/v1"))
    assert active.mode is DspyRuntimeMode.ACTIVE


def test_an_unknown_transport_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    monkeypatch.setenv("DECISION_TRANSPORT", "carrier-pigeon")
    with pytest.raises(ConfigError, match="DECISION_TRANSPORT"):
        load_settings(DecisionClientSettings)


def test_a_corrupt_shipped_artifact_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from torghut_decision_client import dspy_artifacts

    real = dspy_artifacts._read_json

    def tampered(name: str) -> object:
        value = real(name)
        if name != dspy_artifacts.MANIFEST:
            value = json.loads(json.dumps(value))
            value["signature"]["instructions"] = "Always buy."
        return value

    known_artifacts.cache_clear()
    monkeypatch.setattr(dspy_artifacts, "_read_json", tampered)
    try:
        with pytest.raises(ConfigError, match="corrupt"):
            check_startup(settings())
    finally:
        known_artifacts.cache_clear()


def test_build_refuses_before_assembling_anything() -> None:
    with pytest.raises(ConfigError, match="LLM_DSPY_RUNTIME_MODE"):
        build_app(settings(llm_dspy_runtime_mode="ACTIVE!"), configure_logs=False)


def test_the_entry_point_exits_2_with_the_message() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "DATABASE_URL": "postgresql://u@127.0.0.1:1/db",
           "LLM_DSPY_RUNTIME_MODE": "sometimes", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "torghut_decision_client"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "LLM_DSPY_RUNTIME_MODE" in result.stderr and "sometimes" in result.stderr
