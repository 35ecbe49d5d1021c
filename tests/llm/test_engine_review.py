"""The engine's DSPy review against a real model: the compiled program's prompt, a real model's answer.

A model this small may or may not answer in the program's format; either way the engine's contract
holds: a well-formed answer is an opinion the rules may use to turn a trade into a hold (never to
enlarge it), anything else an ``llm_parse_error`` or ``llm_error`` failure the caller turns into a
hold. What the tier pins down is that nothing else can come out (bench.local_model times it).
"""

from __future__ import annotations

import asyncio

import pytest
from torghut_decision_engine.adapters.dspy_program import DspyReviewer, LlmFailure, build_lm
from torghut_decision_engine.domain.rules import LlmOpinion
from torghut_decision_engine.testing import decision_request
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer
from torghut_runtime.testing import eventually

pytestmark = pytest.mark.llm
SHIPPED = next(iter(shipped_artifacts().values()))
DISCONNECTED = "Disconnected from client"
"""What llama-cpp-python's server prints when a streamed completion's client has gone."""


async def test_the_compiled_program_reviews_a_request_with_the_real_model(local_model: LocalModelServer) -> None:
    lm = build_lm(local_model.base_url, MODEL_NAME, None, timeout_s=120, max_tokens=400)
    reviewer = DspyReviewer(SHIPPED, lm, timeout_s=120)
    try:
        outcome: LlmOpinion | LlmFailure = await reviewer.review(decision_request())
    except LlmFailure as failure:
        outcome = failure
    if isinstance(outcome, LlmFailure):
        assert outcome.code == "llm_parse_error", outcome  # the server answered: only its format can be wrong
    else:
        assert 0 <= outcome.confidence <= 1 and outcome.analysis


async def test_with_the_review_schema_the_real_model_gives_an_opinion(local_model: LocalModelServer) -> None:
    """DECISION_ENGINE_LLM_RESPONSE_SCHEMA: llama.cpp holds the model to the review's JSON."""
    lm = build_lm(local_model.base_url, MODEL_NAME, None, timeout_s=120, max_tokens=400, response_schema=True)
    opinion = await DspyReviewer(SHIPPED, lm, timeout_s=120, in_json=True).review(decision_request())
    assert 0 <= opinion.confidence <= 1 and opinion.analysis


async def test_two_reviews_at_once_are_both_answered_whole(local_model: LocalModelServer) -> None:
    """The server answers one at a time; a second streamed review waits its turn instead of cutting the
    first one short (llama-cpp-python's default, which the local model server turns off)."""
    lm = build_lm(local_model.base_url, MODEL_NAME, None, timeout_s=120, max_tokens=400, response_schema=True)
    reviewer = DspyReviewer(SHIPPED, lm, timeout_s=120, in_json=True)
    first, second = await asyncio.gather(reviewer.review(decision_request()),
                                         reviewer.review(decision_request()))
    assert first.analysis and second.analysis


async def test_a_review_abandoned_at_its_deadline_stops_on_the_server(local_model: LocalModelServer) -> None:
    lm = build_lm(local_model.base_url, MODEL_NAME, None, timeout_s=120, max_tokens=400)
    reviewer = DspyReviewer(SHIPPED, lm, timeout_s=120)
    before = local_model.log_path.read_text(errors="replace").count(DISCONNECTED)
    reviewer.timeout_s = 0.2
    with pytest.raises(LlmFailure) as failure:
        await reviewer.review(decision_request())
    assert failure.value.code == "llm_error" and "no answer within" in failure.value.detail
    # The review was streamed: the server sees the closed stream at its next token and stops generating.
    await eventually(lambda: local_model.log_path.read_text(errors="replace").count(DISCONNECTED) > before,
                     what="the model server to notice the abandoned review", timeout=120)
