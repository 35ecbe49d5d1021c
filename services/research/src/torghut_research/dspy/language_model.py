"""The language model a compile talks to: ``dspy.LM`` over HTTP, and the probe that tells a stand-in apart.

MIPROv2 proposes instructions with the LM, which only a real LM can do; the probe is how ``dspy
compile`` refuses it a stand-in (:class:`.compile.CompileRefused`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .compile_options import CompileOptions

STANDIN_OWNER = "torghut-llm-standin"


def import_dspy() -> Any:
    from torghut_decision_program.program import import_dspy

    return import_dspy()


def make_lm(options: CompileOptions) -> Any:
    dspy = import_dspy()
    return dspy.LM(f"openai/{options.lm_model}", api_base=options.lm_base_url.rstrip("/"),
                   api_key=options.lm_api_key or "no-key", temperature=0.0, max_tokens=800, cache=False,
                   num_retries=0, timeout=options.timeout_s)


def standin_probe(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Why ``base_url`` is not a real LM (unreachable or a stand-in), or None when it may be one."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"the LM at {base_url} does not answer ({type(exc).__name__}: {exc})"
    if response.headers.get("x-torghut-llm-standin"):
        return f"the LM at {base_url} is the local stand-in ({response.headers['x-torghut-llm-standin']})"
    try:
        models = response.json().get("data") or []
    except ValueError:
        return None
    if any(isinstance(m, dict) and m.get("owned_by") == STANDIN_OWNER for m in models):
        return f"the LM at {base_url} is the local stand-in"
    return None
