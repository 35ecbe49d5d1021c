"""``torghut.research.lane-runs.v1``: what a research-lane run decided, for whoever watches (the console).

The lane's run directory (its hash chain, reports and any paper patch) stays the record of truth;
this event is its summary, published once the directory is committed, so a run can be seen where
the rest of the suite is seen. It names the manifest's SHA-256, which ties it to the files.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from torghut_contracts.types import Label, Text, UtcDatetime

from .base import Contract

_HEX24 = r"^[0-9a-f]{24}$"
PromotionMode = Literal["shadow", "paper", "live"]


class LaneGate(Contract):
    gate_id: Label = Field(max_length=64)
    passed: bool
    reasons: list[Label] = Field(default_factory=list, max_length=64)


class LaneRun(Contract):
    run_id: str = Field(pattern=_HEX24)
    candidate_id: str = Field(pattern=r"^cand-[0-9a-f]{12}$")
    evaluated_at: UtcDatetime
    promotion_target: PromotionMode
    action: Literal["promote", "deny", "hold"]
    """``promote``: the gates, prerequisites and rollback readiness all allow the recommended mode."""
    recommended_mode: PromotionMode
    reasons: list[Label] = Field(default_factory=list, max_length=256)
    gates: list[LaneGate] = Field(max_length=32)
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    paper_patch: bool
    """Whether the run wrote a paper patch (only on a promotion to paper)."""
    code_version: Text = Field(max_length=200)
