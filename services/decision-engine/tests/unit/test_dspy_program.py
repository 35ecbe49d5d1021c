"""The typed DSPy review program with ``DummyLM``: a typed answer, and every failure as a reason code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from dspy.utils.dummies import DummyLM
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_engine.adapters.dspy_program import DspyReviewer, LlmFailure
from torghut_decision_engine.domain.config import RuleConfig
from torghut_decision_engine.domain.rules import decide
from torghut_decision_engine.domain.skills import SkillInputs, run_skill_bundle

NOW = datetime(2026, 2, 12, 15, 31, 3, tzinfo=UTC)
REQUIRED = frozenset({"technicals-regime", "risk-exposure-sizing", "market-context"})


def answer(**overrides: str) -> dict[str, str]:
    fields = {"analysis": "Momentum is up and the size is bounded.", "action": "buy", "confidence": "0.8",
              "risk_flags": '["earnings soon"]', "uncertainty_notes": '["no news provider"]'}
    fields.update(overrides)
    return fields


async def review(make_request: Callable[..., DecisionRequest], lm: DummyLM):  # type: ignore[no-untyped-def]
    request = make_request(NOW)
    skills = run_skill_bundle(SkillInputs(request, NOW, RuleConfig()))
    reviewer = DspyReviewer(lm, timeout_s=5, model="dummy")
    return await reviewer.review(request, skills, decide(request, skills, REQUIRED, RuleConfig()))


async def test_a_typed_answer_becomes_an_opinion(make_request: Callable[..., DecisionRequest]) -> None:
    lm = DummyLM([answer()])
    opinion = await review(make_request, lm)
    assert opinion.action is Action.BUY
    assert opinion.confidence == Decimal("0.8")
    assert opinion.risk_flags == ("earnings_soon",)
    assert opinion.uncertainty_notes == ("no news provider",)
    prompt = str(lm.history[-1]["messages"])
    assert "NVDA" in prompt and "risk-exposure-sizing" in prompt, "the request and the skills reach the model"


@pytest.mark.parametrize("bad", [answer(action="maybe"), answer(confidence="very"), answer(confidence="1.5"),
                                 {"analysis": "only this"}])
async def test_an_answer_outside_the_signature_is_a_parse_error(make_request: Callable[..., DecisionRequest],
                                                                bad: dict[str, str]) -> None:
    with pytest.raises(LlmFailure) as failure:
        await review(make_request, DummyLM([bad] * 3))
    assert failure.value.code == "llm_parse_error"


def test_the_artifact_hash_identifies_program_and_model() -> None:
    one = DspyReviewer(DummyLM([]), timeout_s=1, model="a").artifact_hash
    assert one == DspyReviewer(DummyLM([]), timeout_s=1, model="a").artifact_hash
    assert one != DspyReviewer(DummyLM([]), timeout_s=1, model="b").artifact_hash
    assert len(one) == 64
