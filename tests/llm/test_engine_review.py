"""The engine's DSPy review against a real model: the compiled program's prompt, a real model's answer.

A model this small may or may not answer in the program's format; either way the engine's contract
holds: a well-formed answer is an opinion the rules may use to turn a trade into a hold (never to
enlarge it), anything else an ``llm_parse_error`` or ``llm_error`` failure the caller turns into a
hold. What the tier pins down is that nothing else can come out (bench.local_model times it).
"""

from __future__ import annotations

import pytest
from torghut_decision_engine.adapters.dspy_program import DspyReviewer, LlmFailure, build_lm
from torghut_decision_engine.domain.rules import LlmOpinion
from torghut_decision_engine.testing import decision_request
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer

pytestmark = pytest.mark.llm
SHIPPED = next(iter(shipped_artifacts().values()))


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


async def test_a_review_timeout_shorter_than_the_answer_is_an_llm_error(local_model: LocalModelServer) -> None:
    lm = build_lm(local_model.base_url, MODEL_NAME, None, timeout_s=120, max_tokens=400)
    with pytest.raises(LlmFailure) as failure:
        await DspyReviewer(SHIPPED, lm, timeout_s=0.2).review(decision_request())
    assert failure.value.code == "llm_error" and "no answer within" in failure.value.detail
