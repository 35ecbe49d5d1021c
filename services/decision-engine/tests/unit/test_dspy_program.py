"""The compiled trade-decision program as the engine's reviewer, with ``DummyLM``: a typed answer becomes an
opinion, every failure a reason code, and the program is the verified artifact named by its hash."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from dspy.utils.dummies import DummyLM
from pydantic import ValidationError
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_engine.adapters.dspy_program import DspyReviewer, LlmFailure
from torghut_decision_engine.app import build_reviewer
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_decision_program import write_artifact
from torghut_decision_program.shipped import shipped_artifacts
from torghut_runtime import ConfigError
from torghut_runtime.testing import test_settings

NOW = datetime(2026, 2, 12, 15, 31, 3, tzinfo=UTC)
SHIPPED = next(iter(shipped_artifacts().values()))


def answer(**overrides: str) -> dict[str, str]:
    fields = {"action": "buy", "qty": "12", "confidence": "0.8", "rationale": "Momentum is up and the size is bounded.",
              "risk_flags": '["earnings soon"]'}
    fields.update(overrides)
    return fields


async def test_a_typed_answer_becomes_an_opinion(make_request: Callable[..., DecisionRequest]) -> None:
    lm = DummyLM([answer()])
    opinion = await DspyReviewer(SHIPPED, lm, timeout_s=5).review(make_request(NOW))
    assert (opinion.action, opinion.confidence) == (Action.BUY, Decimal("0.8"))
    assert opinion.analysis == "Momentum is up and the size is bounded."
    assert opinion.risk_flags == ("earnings_soon",)
    prompt = str(lm.history[-1]["messages"])
    assert "NVDA" in prompt, "the request reaches the model"
    assert SHIPPED.state["signature"]["instructions"].splitlines()[0] in prompt, "the compiled instructions run"


@pytest.mark.parametrize("bad", [answer(action="maybe"), answer(confidence="very"), answer(confidence="1.5"),
                                 {"rationale": "only this"}])
async def test_an_answer_outside_the_signature_is_a_parse_error(make_request: Callable[..., DecisionRequest],
                                                                bad: dict[str, str]) -> None:
    with pytest.raises(LlmFailure) as failure:
        await DspyReviewer(SHIPPED, DummyLM([bad] * 3), timeout_s=5).review(make_request(NOW))
    assert failure.value.code == "llm_parse_error"


def engine_settings(**values: object) -> DecisionEngineSettings:
    return test_settings(DecisionEngineSettings, kafka_bootstrap="127.0.0.1:1",
                         database_url="postgresql://u@127.0.0.1:1/db", topic_prefix="", service_name="decision-engine",
                         **values)


def compiled(tmp_path: Path, instructions: str = "Prefer hold unless the cross is decisive.") -> str:
    state = json.loads(json.dumps(SHIPPED.state))
    state["signature"]["instructions"] = instructions
    return write_artifact(tmp_path, state).artifact_hash


def test_the_program_is_the_artifact_its_hash_names(tmp_path: Path) -> None:
    digest = compiled(tmp_path)
    reviewer = build_reviewer(engine_settings(decision_engine_dspy_artifact_hash=digest,
                                              decision_engine_dspy_artifact_dir=str(tmp_path)), DummyLM([]))
    assert reviewer is not None
    assert (reviewer.program_name, reviewer.artifact_hash) == ("trade-decision-v1", digest)
    shipped = build_reviewer(engine_settings(decision_engine_dspy_artifact_hash=SHIPPED.artifact_hash), DummyLM([]))
    assert shipped is not None and shipped.artifact_hash == SHIPPED.artifact_hash


def test_a_tampered_artifact_stops_start_up_whatever_the_mode(tmp_path: Path) -> None:
    digest = compiled(tmp_path)
    path = tmp_path / f"{digest}.json"
    path.write_text(path.read_text().replace("decisive", "certain"))
    with pytest.raises(ConfigError, match=r"DECISION_ENGINE_DSPY_ARTIFACT_DIR.*hashes to"):
        build_reviewer(engine_settings(decision_engine_dspy_artifact_dir=str(tmp_path)), None)


def test_an_unknown_or_missing_hash_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"DECISION_ENGINE_DSPY_ARTIFACT_HASH=0{64}: no such compiled program"):
        build_reviewer(engine_settings(decision_engine_dspy_artifact_hash="0" * 64), DummyLM([]))
    with pytest.raises(ConfigError, match="DECISION_ENGINE_DSPY_ARTIFACT_HASH is required"):
        build_reviewer(engine_settings(), DummyLM([]))
    with pytest.raises(ValidationError, match="DECISION_ENGINE_DSPY_ARTIFACT_HASH is required when"):
        engine_settings(decision_engine_llm_base_url="http://lm:1/v1", decision_engine_llm_model="m")


def test_deterministic_mode_needs_no_program() -> None:
    assert build_reviewer(engine_settings(), None) is None
