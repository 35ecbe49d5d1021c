"""Start-up refuses unsupported configuration with a ConfigError naming the variable; never a default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from torghut_decision_client.app import build_app
from torghut_decision_client.domain.gate import DspyRuntimeMode
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.startup import check_startup
from torghut_decision_program import write_artifact
from torghut_decision_program.shipped import shipped_artifacts
from torghut_runtime import ConfigError, load_settings

KNOWN = next(iter(shipped_artifacts()))
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
    from torghut_decision_program import shipped

    real = shipped._read_json

    def tampered(name: str) -> object:
        value = real(name)
        if name != shipped.MANIFEST:
            value = json.loads(json.dumps(value))
            value["state"]["signature"]["instructions"] = "Always buy."
        return value

    shipped_artifacts.cache_clear()
    monkeypatch.setattr(shipped, "_read_json", tampered)
    try:
        with pytest.raises(ConfigError, match="corrupt"):
            check_startup(settings())
    finally:
        shipped_artifacts.cache_clear()


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


# -- LLM_DSPY_ARTIFACT_DIR: compiled artifacts beside the shipped ones ----------------------------
def compiled_state(instructions: str = "Prefer hold unless the cross is decisive.") -> dict[str, object]:
    """A new compile: the shipped state with other instructions and one demo (a different hash)."""
    state = json.loads(json.dumps(next(iter(shipped_artifacts().values())).state))
    state["signature"]["instructions"] = instructions
    state["demos"] = state["demos"][1:]
    return state


def test_a_hash_from_the_artifact_dir_opens_the_gate(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, compiled_state(), provenance={"optimizer": "MIPROv2", "eval_hash": "e" * 64})
    assert written.artifact_hash != KNOWN
    gate = check_startup(settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=written.artifact_hash,
                                  llm_dspy_artifact_dir=str(tmp_path), jangar_base_url="http://jangar"))
    assert gate.artifact == written and gate.artifact.provenance["optimizer"] == "MIPROv2"
    # the shipped ones stay known beside the directory's
    shipped = check_startup(settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=KNOWN,
                                     llm_dspy_artifact_dir=str(tmp_path), jangar_base_url="http://jangar"))
    assert shipped.artifact is not None and shipped.artifact.artifact_hash == KNOWN


def test_a_hash_from_the_artifact_dir_is_unknown_without_it(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, compiled_state())
    with pytest.raises(ConfigError, match=r"LLM_DSPY_ARTIFACT_HASH.*not a known compiled program"):
        check_startup(settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash=written.artifact_hash,
                               jangar_base_url="http://jangar"))


def test_an_unknown_hash_is_refused_with_a_dir_set(tmp_path: Path) -> None:
    write_artifact(tmp_path, compiled_state())
    with pytest.raises(ConfigError, match="LLM_DSPY_ARTIFACT_HASH") as caught:
        check_startup(settings(llm_dspy_runtime_mode="shadow", llm_dspy_artifact_hash="b" * 64,
                               llm_dspy_artifact_dir=str(tmp_path), jangar_base_url="http://jangar"))
    assert "dspy_artifact_hash_unknown" in str(caught.value)


@pytest.mark.parametrize("mode", ["shadow", "disabled"])
def test_a_tampered_file_in_the_artifact_dir_stops_start_up(tmp_path: Path, mode: str) -> None:
    written = write_artifact(tmp_path, compiled_state())
    path = tmp_path / f"{written.artifact_hash}.json"
    document = json.loads(path.read_text())
    document["state"]["signature"]["instructions"] = "Always buy."
    path.write_text(json.dumps(document))
    values: dict[str, object] = {"llm_dspy_runtime_mode": mode, "llm_dspy_artifact_dir": str(tmp_path),
                                 "jangar_base_url": "http://jangar"}
    if mode == "shadow":
        values["llm_dspy_artifact_hash"] = written.artifact_hash
    with pytest.raises(ConfigError, match="LLM_DSPY_ARTIFACT_DIR") as caught:
        check_startup(settings(**values))
    assert str(path) in str(caught.value) and written.artifact_hash in str(caught.value)


@pytest.mark.parametrize("problem", ["missing", "misnamed", "other_program"])
def test_a_bad_artifact_dir_stops_start_up(tmp_path: Path, problem: str) -> None:
    directory = tmp_path / "artifacts"
    if problem != "missing":
        written = write_artifact(directory, compiled_state())
        path = directory / f"{written.artifact_hash}.json"
        if problem == "misnamed":
            path.rename(directory / "candidate.json")
        else:
            document = json.loads(path.read_text())
            document["program_name"] = "trade-review-committee-v1"
            path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match="LLM_DSPY_ARTIFACT_DIR"):
        check_startup(settings(llm_dspy_artifact_dir=str(directory)))


def test_the_entry_point_names_the_artifact_dir_and_the_file(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, compiled_state())
    path = tmp_path / f"{written.artifact_hash}.json"
    path.write_text(path.read_text().replace("Prefer hold", "Always buy"))
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "DATABASE_URL": "postgresql://u@127.0.0.1:1/db",
           "LLM_DSPY_ARTIFACT_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "torghut_decision_client"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "LLM_DSPY_ARTIFACT_DIR" in result.stderr and str(path) in result.stderr


def test_model_settings_dspy_refuses_stop_start_up_naming_them() -> None:
    """A reasoning model with temperature 0 is refused by dspy.LM itself: a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="LLM_TEMPERATURE"):
        build_app(settings(decision_transport="dspy", llm_dspy_runtime_mode="active", llm_dspy_artifact_hash=KNOWN,
                           jangar_base_url="http://jangar/openai/v1", llm_model="gpt-5.6-sol", llm_temperature=0,
                           llm_max_tokens=800), configure_logs=False)
