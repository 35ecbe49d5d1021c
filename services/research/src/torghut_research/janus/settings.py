"""The Janus-Q settings, under ``janus:`` in a research config (``--strategy-config``).

    janus:
      event_window_bars: 1            # CAR over the next N bars of the event's own (symbol, stream)
      strong_threshold: 0.0025        # |CAR| at or above: a "strong" event
      abnormal_return_model: cross_sectional_market_mean   # or identity (raw returns)
      hgrm: {direction_gate_mismatch: 0.0, transaction_cost_bps: null, ...}

Every value is recorded in the artifacts and hashed into their ``run_config_hash``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HgrmConfig(_Strict):
    """The HGRM reward's constants (research-lane.md §5.2, with the differences docs/research.md lists).

    Gates are multipliers. The direction gate is the hard one: a decision against the event's
    direction is multiplied by ``direction_gate_mismatch`` (0: the reward is removed, as in the
    paper) and then capped at 0, so it can never earn a positive reward. A negative multiplier is
    refused: the P&L term of a wrong-direction decision is already negative, so upstream's -1
    turned it into a reward for being wrong.
    """

    direction_gate_match: float = Field(default=1.0, ge=0)
    direction_gate_mismatch: float = Field(default=0.0, ge=0, le=1)
    direction_gate_neutral: float = Field(default=0.5, ge=0, le=1)
    """The event did not move (CAR exactly 0) or the decision maps to no event."""
    event_type_gate_match: float = Field(default=1.0, ge=0)
    event_type_gate_mismatch: float = Field(default=0.4, ge=0)
    event_type_gate_unknown: float = Field(default=0.7, ge=0)
    transaction_cost_bps: float | None = Field(default=None, ge=0)
    """Round-trip cost charged to the P&L term; None: the lane's cost model (``costs:``) per decision."""
    return_scale: float = Field(default=100.0, gt=0)
    """P&L and magnitude terms are returns times this (100: percent), so they compare with the process bonus."""
    magnitude_match_weight: float = Field(default=1.0, ge=0)
    magnitude_mismatch_weight: float = Field(default=1.0, ge=0)
    process_reward_bonus: float = Field(default=0.01, ge=0)
    """For a decision that states its reason. 0.01 at ``return_scale`` 100 is worth 1 bp of P&L; upstream's
    0.10 sat on a unit return scale, where it was about a hundred times any minute-bar P&L term."""
    final_reward_clip_floor: float = -3.0
    final_reward_clip_ceil: float = 3.0

    @model_validator(mode="after")
    def _ordered(self) -> HgrmConfig:
        if self.final_reward_clip_floor > self.final_reward_clip_ceil:
            raise ValueError("final_reward_clip_floor must not be above final_reward_clip_ceil")
        return self


class JanusSettings(_Strict):
    event_window_bars: int = Field(default=1, ge=1, le=10_000)
    """Bars after the event that its CAR sums; 1 is upstream's one-step window."""
    strong_threshold: float = Field(default=0.0025, ge=0)
    abnormal_return_model: Literal["cross_sectional_market_mean", "identity"] = "cross_sectional_market_mean"
    hgrm: HgrmConfig = HgrmConfig()
