"""What an optimizer scores one prediction by, and the Janus HGRM reward of one prediction.

Two compile metrics (``dspy compile --metric``), both DSPy metrics ``(example, prediction, trace)``:
a float when DSPy evaluates, a bool when an optimizer asks whether a bootstrapped trace is good
enough to become a demo (``trace`` given).

* ``exact-action-schema-v1``: 1 when the prediction is schema-valid (an action of buy/sell/hold, a
  finite qty >= 0 that is > 0 for a trade, a confidence in [0, 1], a list of flags) and its action
  equals the label's, else 0. A trace is accepted when the score is 1.
* ``janus-hgrm-v1``: the HGRM reward (:mod:`torghut_research.janus.hgrm`, research-lane.md §5.2) of
  the predicted action against the example's Janus event (``label.janusEvent``: CAR over the
  label's horizon, its direction and type) with the label's round-trip cost. A trace is accepted
  when the reward is above 0.

The HGRM reward of one prediction, with the lane's constants (:class:`HgrmConfig`):

* buy / sell: exactly the lane's steps 2-7. Direction gate against the event's direction, event-type
  gate (the trigger's type predicts the event type, as a walk-forward decision's does), cost-aware
  P&L ``side x car - cost``, magnitude shaping, the process bonus for a stated rationale, and the
  hierarchical composition (a wrong direction capped at 0, clipped).
* hold: no position, so no P&L and no magnitude. The direction gate is ``match`` when the event
  was not strong (standing aside was right) and ``neutral`` when it was (a move was missed). The
  reward is that gate times the process bonus. So a right trade scores above a hold, and a hold
  above a wrong trade (capped at 0).
* no valid answer (the runtime would hold with a fallback): the clip floor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..janus.events import normalise_event_type
from ..janus.hgrm import TECHNICAL, TECHNICAL_RULE_PREFIXES, compose
from ..janus.settings import HgrmConfig

EXACT_ACTION = "exact-action-schema-v1"
JANUS_HGRM = "janus-hgrm-v1"
DESCRIPTIONS = {
    EXACT_ACTION: "1 when the prediction is schema-valid and its action equals the label's action, else 0; the label "
                  "is the data set's (forward return net of costs, firewall vetoes held)",
    JANUS_HGRM: "the Janus HGRM reward of the predicted action against the example's event (CAR over the label's "
                "horizon, cross-sectional market mean) with the label's round-trip cost; holds score the gated "
                "process bonus, invalid answers the clip floor",
}
DIRECTION_SIGN = {"long": 1, "short": -1, "neutral": 0}

Metric = Callable[..., float | bool]


def schema_valid(prediction: Any) -> bool:
    try:
        action = prediction.action
        qty = float(prediction.qty)
        confidence = float(prediction.confidence)
        flags = prediction.risk_flags
    except (AttributeError, TypeError, ValueError):
        return False
    if action not in ("buy", "sell", "hold") or not (math.isfinite(qty) and math.isfinite(confidence)):
        return False
    if qty < 0 or (action != "hold" and qty <= 0) or not 0 <= confidence <= 1:
        return False
    return isinstance(flags, list)


def exact_action(example: Any, prediction: Any, trace: Any = None) -> float | bool:
    score = schema_valid(prediction) and prediction.action == example.action
    return bool(score) if trace is not None else float(score)


def trigger_type_of(row: Mapping[str, Any]) -> str:
    """The trigger type of a data set example, from its request."""
    return str(json.loads(row["inputs"]["request_json"])["trigger"]["type"])


def predicted_event_type(trigger_type: str) -> str | None:
    """The event type a trigger's rule predicts (the lane's rule: a technical rule, a technical event)."""
    label = normalise_event_type(trigger_type)
    if label is None:
        return None
    return TECHNICAL if label.startswith(TECHNICAL_RULE_PREFIXES) else label


def hgrm_reward(row: Mapping[str, Any], action: str | None, rationale_given: bool, config: HgrmConfig) -> float:
    """The HGRM reward of ``action`` on the data set example ``row`` (see the module doc)."""
    if action not in ("buy", "sell", "hold"):
        return config.final_reward_clip_floor
    label = row["label"]
    event = label["janusEvent"]
    car = float(event["car"])
    expected = DIRECTION_SIGN[event["direction"]]
    process = config.process_reward_bonus if rationale_given else 0.0
    if action == "hold":
        gate = config.direction_gate_neutral if event["strong"] else config.direction_gate_match
        return float(np.clip(gate * process, config.final_reward_clip_floor, config.final_reward_clip_ceil))
    side = 1 if action == "buy" else -1
    match = expected != 0 and side == expected
    mismatch = expected != 0 and side != expected
    direction = (config.direction_gate_match if match else config.direction_gate_mismatch if mismatch
                 else config.direction_gate_neutral)
    predicted = predicted_event_type(trigger_type_of(row))
    type_value = (config.event_type_gate_unknown if predicted is None
                  else config.event_type_gate_match if predicted == event["eventType"]
                  else config.event_type_gate_mismatch)
    cost_bps = config.transaction_cost_bps if config.transaction_cost_bps is not None else float(label["costBps"])
    pnl = config.return_scale * (side * car - cost_bps / 1e4)
    weight = config.magnitude_match_weight if match else -config.magnitude_mismatch_weight if mismatch else 0.0
    magnitude = config.return_scale * abs(car) * weight

    def one(value: float) -> Any:
        return np.array([value], dtype=np.float64)

    _, final = compose(one(direction), one(type_value), one(pnl), one(magnitude), one(process),
                       np.array([mismatch]), config)
    return float(final[0])


def require_janus_events(rows: Sequence[Mapping[str, Any]], origin: str) -> None:
    """The HGRM metric needs every example's Janus event; a data set built before it has none."""
    for row in rows:
        event = row["label"].get("janusEvent")
        if not isinstance(event, Mapping) or event.get("direction") not in DIRECTION_SIGN:
            raise InputError(f"{origin}: example {row.get('id')}: label.janusEvent: missing or malformed; the "
                             f"{JANUS_HGRM} metric needs it (rebuild the data set with `dspy dataset`)")


def hgrm_metric(rows: Sequence[Mapping[str, Any]], config: HgrmConfig) -> Metric:
    """The DSPy metric of ``janus-hgrm-v1`` over ``rows`` (found by their request, the one input field)."""
    by_request = {row["inputs"]["request_json"]: row for row in rows}

    def metric(example: Any, prediction: Any, trace: Any = None) -> float | bool:
        valid = schema_valid(prediction)
        rationale = str(getattr(prediction, "rationale", "") or "").strip()
        reward = hgrm_reward(by_request[example.request_json], prediction.action if valid else None,
                             bool(rationale), config)
        return reward > 0 if trace is not None else reward

    return metric


def compile_metric(name: str, rows: Sequence[Mapping[str, Any]], config: HgrmConfig, origin: str) -> Metric:
    if name == EXACT_ACTION:
        return exact_action
    if name == JANUS_HGRM:
        require_janus_events(rows, origin)
        return hgrm_metric(rows, config)
    raise InputError(f"--metric {name!r}: expected one of {', '.join(DESCRIPTIONS)}")
