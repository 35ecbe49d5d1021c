"""The compile metrics: the exact-action score and the Janus HGRM reward of one prediction, by hand."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from torghut_research.dspy.metrics import (
    EXACT_ACTION,
    JANUS_HGRM,
    compile_metric,
    exact_action,
    hgrm_reward,
)
from torghut_research.errors import InputError
from torghut_research.janus.settings import HgrmConfig

CONFIG = HgrmConfig()  # return_scale 100, gates 1 / 0 / 0.5, type gates 1 / 0.4 / 0.7, bonus 0.01, clip [-3, 3]


def row(car: float, direction: str, *, strong: bool = True, event_type: str = "technical_indicator",
        trigger_type: str = "macd_cross", cost_bps: float = 7.0) -> dict[str, Any]:
    request = {"trigger": {"type": trigger_type}}
    return {"id": "d-1", "inputs": {"request_json": json.dumps(request)},
            "label": {"action": "buy", "costBps": cost_bps,
                      "janusEvent": {"car": car, "direction": direction, "eventType": event_type, "strong": strong}}}


def prediction(action: str = "buy", qty: float = 10, confidence: float = 0.7, rationale: str = "why") -> Any:
    return SimpleNamespace(action=action, qty=qty, confidence=confidence, rationale=rationale, risk_flags=[])


def test_a_right_trade_earns_pnl_net_of_costs_plus_magnitude_plus_the_bonus() -> None:
    # car +1% long, cost 7 bps: pnl = 100 x (0.01 - 0.0007) = 0.93; magnitude = 100 x 0.01 x 1 = 1.0;
    # final = 1 x (1 x (0.93 + 1.0) + 0.01) = 1.94
    assert hgrm_reward(row(0.01, "long"), "buy", True, CONFIG) == pytest.approx(1.94)
    assert hgrm_reward(row(-0.01, "short"), "sell", True, CONFIG) == pytest.approx(1.94)
    assert hgrm_reward(row(0.01, "long"), "buy", False, CONFIG) == pytest.approx(1.93), "no rationale, no bonus"


def test_a_wrong_direction_is_capped_by_the_hard_gate() -> None:
    assert hgrm_reward(row(0.01, "long"), "sell", True, CONFIG) == 0.0
    lenient = HgrmConfig(direction_gate_mismatch=1.0)
    # pnl = 100 x (-0.01 - 0.0007) = -1.07; magnitude = -1.0; capped at 0 only from above: -2.06
    assert hgrm_reward(row(0.01, "long"), "sell", True, lenient) == pytest.approx(-2.06)


def test_an_inconsistent_event_type_is_gated() -> None:
    matching = hgrm_reward(row(0.01, "long", event_type="technical_indicator"), "buy", True, CONFIG)
    other = hgrm_reward(row(0.01, "long", event_type="unknown_event"), "buy", True, CONFIG)
    unknown = hgrm_reward(row(0.01, "long", trigger_type=""), "buy", True, CONFIG)
    assert other == pytest.approx(0.4 * 1.93 + 0.01)
    assert unknown == pytest.approx(0.7 * 1.93 + 0.01)
    assert matching > unknown > other


def test_a_hold_scores_the_gated_bonus_below_a_right_trade_and_above_a_wrong_one() -> None:
    assert hgrm_reward(row(0.0001, "long", strong=False), "hold", True, CONFIG) == pytest.approx(0.01)
    assert hgrm_reward(row(0.01, "long", strong=True), "hold", True, CONFIG) == pytest.approx(0.005)
    assert hgrm_reward(row(0.01, "long"), "hold", False, CONFIG) == 0.0
    right, hold, wrong = (hgrm_reward(row(0.01, "long"), a, True, CONFIG) for a in ("buy", "hold", "sell"))
    assert right > hold > wrong


def test_no_valid_answer_scores_the_floor_and_rewards_are_clipped() -> None:
    assert hgrm_reward(row(0.01, "long"), None, True, CONFIG) == -3.0
    assert hgrm_reward(row(0.5, "long"), "buy", True, CONFIG) == 3.0


def test_the_dspy_metrics_score_floats_and_accept_traces_by_their_rule() -> None:
    rows = [row(0.01, "long")]
    example = SimpleNamespace(request_json=rows[0]["inputs"]["request_json"], action="buy")
    metric = compile_metric(JANUS_HGRM, rows, CONFIG, "test")
    assert metric(example, prediction("buy")) == pytest.approx(1.94)
    assert metric(example, prediction("buy"), trace=[]) is True
    assert metric(example, prediction("sell"), trace=[]) is False
    assert metric(example, prediction("buy", qty=-1)) == -3.0, "schema-invalid: the floor"
    assert compile_metric(EXACT_ACTION, rows, CONFIG, "test") is exact_action
    assert exact_action(example, prediction("buy")) == 1.0 and exact_action(example, prediction("hold")) == 0.0


def test_the_hgrm_metric_refuses_a_data_set_without_janus_events() -> None:
    old = row(0.01, "long")
    del old["label"]["janusEvent"]
    with pytest.raises(InputError, match=r"label\.janusEvent: missing"):
        compile_metric(JANUS_HGRM, [old], CONFIG, "dspy-dataset.json")
    with pytest.raises(InputError, match="--metric 'accuracy'"):
        compile_metric("accuracy", [old], CONFIG, "dspy-dataset.json")
