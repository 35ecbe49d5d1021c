"""The DSPy program: with dspy's DummyLM, and with dspy.LM against a local OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import dspy
import pytest
from dspy.utils.dummies import DummyLM
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_client.adapters.dspy_program import DspyDecisionProgram, jangar_lm
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.outcome import EngineAnswer, EngineFailure
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.llm_standin import LocalLlm, dspy_chat_answer

ARTIFACT = next(iter(shipped_artifacts().values()))
BUY = {"action": "buy", "qty": 12, "confidence": 0.64, "rationale": "momentum", "risk_flags": ["news_missing"]}


async def run(lm: Any, request: DecisionRequest, **kwargs: Any) -> Any:
    return await DspyDecisionProgram(ARTIFACT, lm, timeout_s=kwargs.pop("timeout_s", 5.0), **kwargs).decide(request)


def test_the_compiled_state_is_loaded() -> None:
    program = DspyDecisionProgram(ARTIFACT, DummyLM([]), timeout_s=1)
    assert len(program.module.demos) == len(ARTIFACT.state["demos"]) > 0
    assert program.module.signature.instructions == ARTIFACT.state["signature"]["instructions"]


async def test_a_typed_answer_becomes_the_intent(make_request: Callable[..., DecisionRequest]) -> None:
    outcome = await run(DummyLM([BUY]), make_request())
    assert isinstance(outcome, EngineAnswer)
    assert outcome.intent.action is Action.BUY and outcome.intent.qty == Decimal(12)
    assert outcome.confidence == Decimal("0.64") and outcome.risk_flags == ("news_missing",)
    assert outcome.uncertainty_notes == ("rationale: momentum",)
    p = outcome.provenance
    assert (p.transport, p.mode, p.program, p.artifact_hash) == ("dspy", "dspy-active", ARTIFACT.program_name,
                                                                 ARTIFACT.artifact_hash)
    assert p.engine_version == f"dspy-{dspy.__version__}"


async def test_a_hold_is_normalised_to_qty_zero(make_request: Callable[..., DecisionRequest]) -> None:
    outcome = await run(DummyLM([{**BUY, "action": "hold", "qty": 7}]), make_request())
    assert isinstance(outcome, EngineAnswer) and outcome.intent.action is Action.HOLD and outcome.intent.qty == 0


@pytest.mark.parametrize(("answers", "reason"), [
    # the chat adapter fails, dspy retries once with the JSON adapter, which fails too
    ([{"verdict": "buy"}, {"verdict": "buy"}], reasons.DSPY_PARSE_ERROR),
    ([{**BUY, "action": "short"}, {**BUY, "action": "short"}], reasons.DSPY_PARSE_ERROR),
    ([{**BUY, "qty": 0}], reasons.DSPY_PARSE_ERROR),
    ([{**BUY, "confidence": 3}], reasons.DSPY_PARSE_ERROR),
])
async def test_an_answer_that_is_not_a_decision_is_a_hold(make_request: Callable[..., DecisionRequest],
                                                          answers: list[dict[str, Any]], reason: str) -> None:
    outcome = await run(DummyLM(answers), make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reason,)
    assert outcome.provenance.artifact_hash == ARTIFACT.artifact_hash


async def test_an_lm_that_fails_is_a_hold(make_request: Callable[..., DecisionRequest]) -> None:
    class BrokenLM(DummyLM):
        async def acall(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("lm unreachable")

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("lm unreachable")

    outcome = await run(BrokenLM([]), make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.DSPY_LM_ERROR,)
    assert "lm unreachable" in outcome.detail


async def test_a_local_openai_compatible_server_through_dspy_lm(local_llm: tuple[LocalLlm, str],
                                                                make_request: Callable[..., DecisionRequest]) -> None:
    llm, url = local_llm
    llm.answer(dspy_chat_answer({**BUY, "action": "sell", "qty": 4}))
    lm = jangar_lm(base_url=url + "/", model="local-test-model", api_key=None, timeout_s=5, max_tokens=400,
                   temperature=0)
    outcome = await run(lm, make_request())
    assert isinstance(outcome, EngineAnswer), outcome
    assert outcome.intent.action is Action.SELL and outcome.intent.qty == Decimal(4)
    assert llm.paths == ["/openai/v1/chat/completions"]
    assert llm.requests[0]["model"] == "local-test-model"
    assert llm.headers[0]["authorization"] == "Bearer jangar-internal"
    assert "request_json" in str(llm.requests[0]["messages"])


async def test_a_local_server_that_fails_or_answers_garbage_is_a_hold(
        local_llm: tuple[LocalLlm, str], make_request: Callable[..., DecisionRequest]) -> None:
    from torghut_embedded.llm_standin import Answer

    llm, url = local_llm
    lm = jangar_lm(base_url=url, model="m", api_key="k", timeout_s=5, max_tokens=400, temperature=0)
    llm.answer(Answer("boom", status=500))
    failed = await run(lm, make_request())
    assert isinstance(failed, EngineFailure) and failed.reason_codes == (reasons.DSPY_LM_ERROR,)
    llm.answer("no sections here", "still nothing")
    garbled = await run(lm, make_request())
    assert isinstance(garbled, EngineFailure) and garbled.reason_codes == (reasons.DSPY_PARSE_ERROR,)


async def test_a_program_slower_than_its_timeout_is_a_hold(make_request: Callable[..., DecisionRequest]) -> None:
    import asyncio

    class SlowLM(DummyLM):
        async def acall(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(5)
            raise AssertionError("unreachable")

    outcome = await run(SlowLM([BUY]), make_request(), timeout_s=0.2)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.DSPY_TIMEOUT,)
