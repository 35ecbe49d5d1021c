"""The trade-decision DSPy program: the typed signature and the ``dspy.Predict`` built on it.

Needs the ``dspy`` extra. ``dspy`` takes seconds to import, so nothing here imports it before a
function is called (``import torghut_decision_program`` stays cheap); it is imported after
``LITELLM_LOCAL_MODEL_COST_MAP`` is exported, so litellm fetches no cost map from the internet.

A compiler (an optimizer over a labelled data set) starts from :func:`new_module`, compiles it and
hands :func:`module_state` of the result to :func:`torghut_decision_program.write_artifact`; the
runtime rebuilds the same program with :func:`build_module`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal

from .constants import INSTRUCTIONS


def import_dspy() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import dspy

    return dspy


@cache
def trade_decision_signature() -> Any:
    """The typed signature (``TradeDecisionSignature``), built on first use."""
    dspy = import_dspy()

    class TradeDecisionSignature(dspy.Signature):  # type: ignore[misc,name-defined]
        request_json: str = dspy.InputField(
            desc="The decision request (trigger, features, portfolio, risk policy) as JSON")
        action: Literal["buy", "sell", "hold"] = dspy.OutputField()
        qty: float = dspy.OutputField(desc="Whole shares; 0 for hold")
        confidence: float = dspy.OutputField(desc="Between 0 and 1")
        rationale: str = dspy.OutputField(desc="One or two sentences")
        risk_flags: list[str] = dspy.OutputField(desc="Short snake_case flags; empty when none")

    return TradeDecisionSignature.with_instructions(INSTRUCTIONS)


def new_module() -> Any:
    """The uncompiled program (``dspy.Predict`` on the signature): what an optimizer compiles."""
    return import_dspy().Predict(trade_decision_signature())


def build_module(state: Mapping[str, Any]) -> Any:
    """The program with a compiled ``state`` (instructions, field prefixes, demos); never an LM from it."""
    module = new_module()
    loaded = dict(state)
    loaded["lm"] = None
    module.load_state(loaded)
    return module


def module_state(module: Any) -> dict[str, Any]:
    """A compiled program's state as an artifact holds it (``dump_state()`` with ``lm`` null)."""
    state: dict[str, Any] = module.dump_state()
    state["lm"] = None
    return state


def demos_state(demos: Sequence[Mapping[str, Any]], *, instructions: str | None = None) -> dict[str, Any]:
    """The state of the program with ``demos`` (dicts of the signature's fields) as its worked examples."""
    dspy = import_dspy()
    module = new_module()
    if instructions is not None:
        module.signature = module.signature.with_instructions(instructions)
    module.demos = [dspy.Example(**demo).with_inputs("request_json") for demo in demos]
    return module_state(module)
