"""Janus-Q HGRM rewards: the components as a table, an unmapped decision, the cost from the lane's cost
model, a negative direction multiplier refused, and the reward artifact's summary and hashes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from torghut_research.config import Costs, Portfolio
from torghut_research.janus import events, hgrm
from torghut_research.janus.evidence import evidence_summary
from torghut_research.janus.settings import HgrmConfig, JanusSettings

from .conftest import decision, demo_signals, reward_artifact

FLAT = HgrmConfig(transaction_cost_bps=10)


A1 = 0.02 / 1.5  # AAA's CAR at t1


# (case, symbol, step, action, trigger type, rationale, config, expected: gate, type gate, final, clipped)
CASES = [
    ("right direction", "AAA", 0, "buy", "macd_cross_up", "r", FLAT,
     "match", "match", 100 * (A1 - 0.001) + 100 * A1 + 0.01, False),
    ("wrong direction: removed", "AAA", 0, "sell", "macd_cross_down", "r", FLAT, "mismatch", "match", 0.0, False),
    ("wrong direction, softer gate: negative only", "AAA", 0, "sell", "macd_cross_down", "r",
     FLAT.model_copy(update={"direction_gate_mismatch": 0.5}),
     "mismatch", "match", 0.5 * (100 * (-A1 - 0.001) - 100 * A1 + 0.01), False),
    ("wrong direction with a big bonus: capped at 0", "BBB", 0, "sell", "macd_cross_down", "r",
     FLAT.model_copy(update={"direction_gate_mismatch": 1.0, "process_reward_bonus": 5.0}),
     "mismatch", "match", 0.0, False),
    ("event type inconsistent: soft-gated", "AAA", 0, "buy", "earnings-call", "r", FLAT,
     "match", "mismatch", 0.4 * (100 * (A1 - 0.001) + 100 * A1) + 0.01, False),
    ("no predicted type, no rationale", "AAA", 0, "buy", "", None, FLAT,
     "match", "unknown", 0.7 * (100 * (A1 - 0.001) + 100 * A1), False),
    ("unknown event vs a technical rule", "CCC", 1, "buy", "rsi_oversold_reversion", "r", FLAT,
     "match", "mismatch", 0.4 * (100 * (0.04 / 3 - 0.001) + 100 * 0.04 / 3) + 0.01, False),
    ("event did not move: neutral", "AAA", 2, "buy", "macd_cross_up", "r", FLAT,
     "neutral", "match", 0.5 * (100 * -0.001 + 0.01), False),
    ("clipped", "AAA", 0, "buy", "macd_cross_up", "r", FLAT.model_copy(update={"return_scale": 1000.0}),
     "match", "match", 3.0, True),
    ("cost eats a small move", "BBB", 0, "buy", "macd_cross_up", "r", HgrmConfig(transaction_cost_bps=50),
     "match", "match", 100 * (0.01 / 3 - 0.005) + 100 * 0.01 / 3 + 0.01, False),
]


@pytest.mark.parametrize(("case", "symbol", "step", "action", "trigger_type", "rationale", "config", "gate",
                          "type_gate", "final", "clipped"), CASES, ids=[c[0] for c in CASES])
def test_hgrm_components(case: str, symbol: str, step: int, action: str, trigger_type: str, rationale: str | None,
                         config: HgrmConfig, gate: str, type_gate: str, final: float, clipped: bool) -> None:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    d = decision(signals, symbol, step, action, trigger_type, rationale=rationale)
    parts = hgrm.score([d], table, signals, config, costs=Costs(), portfolio=Portfolio())
    assert parts.direction_gate == [gate] and parts.type_gate == [type_gate]
    assert parts.final[0] == pytest.approx(final, abs=1e-9)
    assert bool(parts.final[0] != parts.unclipped[0]) is clipped
    if gate == "mismatch":
        assert parts.final[0] <= 0


def test_unmapped_decision_is_neutral_and_unclassified() -> None:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    parts = hgrm.score([decision(signals, "AAA", 0, "buy", seq=99)], table, signals, FLAT, costs=Costs(),
                       portfolio=Portfolio())
    assert not parts.mapped[0] and parts.direction_gate == ["neutral"] and parts.event_types == ["unclassified_event"]
    assert parts.car[0] == 0


def test_cost_comes_from_the_lane_cost_model() -> None:
    """AAA's quotes are 10 bps wide at t1 and t2: half spread 5 + slippage 1 = 6 bps a fill, 12 a round trip.
    CCC has no quote: the default spread 5 gives 2.5 + 1 = 3.5 a fill, 7 a round trip; commission adds
    its bps on both fills."""
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    decisions = [decision(signals, "AAA", 0, "buy"), decision(signals, "CCC", 0, "sell")]
    parts = hgrm.score(decisions, table, signals, HgrmConfig(), costs=Costs(), portfolio=Portfolio())
    assert parts.cost_bps == pytest.approx([12.0, 7.0], abs=1e-6)
    with_commission = hgrm.score(decisions, table, signals, HgrmConfig(), costs=Costs(commission_bps=2),
                                 portfolio=Portfolio())
    assert with_commission.cost_bps == pytest.approx([16.0, 11.0], abs=1e-6)


def test_a_negative_direction_multiplier_is_refused() -> None:
    """Upstream's -1 times an already negative P&L paid the wrong direction."""
    with pytest.raises(ValidationError):
        HgrmConfig(direction_gate_mismatch=-1)


def test_hgrm_artifact_summary_and_hashes() -> None:
    signals = demo_signals()
    decisions = [decision(signals, "AAA", 0, "buy"), decision(signals, "AAA", 0, "sell"),
                 decision(signals, "BBB", 1, "buy", seq=42)]
    _, car, reward = reward_artifact(decisions)
    summary = reward["summary"]
    assert summary["reward_count"] == 3 and summary["event_mapped_count"] == 2 and summary["hard_gate_fail_count"] == 1
    assert summary["direction_gate_pass_ratio"] == "0.333333333333"
    assert reward["manifest_hash"] == hgrm.manifest_hash(reward)
    assert reward["lineage"]["event_manifest_hash"] == car["manifest_hash"]
    assert len({r["reward_id"] for r in reward["rewards"]}) == 3
    evidence = evidence_summary(car, reward, event_car_sha256="a" * 64, reward_sha256="b" * 64)
    assert evidence["reasons"] == ["janus_reward_event_mapping_incomplete"] and not evidence["evidence_complete"]
