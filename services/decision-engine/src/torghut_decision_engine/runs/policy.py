"""What a run manager is configured with: its timeouts and rules, and the reviewer it may consult.

Kept apart from the manager so the app can build a policy (and tests replace one) without pulling in
the machinery that executes runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from torghut_contracts.decision_engine import DecisionRequest

from ..domain.config import RuleConfig
from ..domain.rules import LlmOpinion


class Reviewer(Protocol):
    """The compiled program's second opinion on a request (``adapters.dspy_program.DspyReviewer``)."""

    program_name: str
    artifact_hash: str

    async def review(self, request: DecisionRequest) -> LlmOpinion: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunPolicy:
    run_timeout: timedelta
    lease_ttl: timedelta
    retention: timedelta
    rules: RuleConfig
    required_by_strategy: Callable[[str], frozenset[str]]
    event_clock: bool = False
    """Judge freshness as of the trigger's event time: for replaying a recorded session."""

    def required(self, request: DecisionRequest) -> frozenset[str]:
        """The skill domains this request's decision may not go without."""
        return self.required_by_strategy(request.strategy_id) | frozenset(request.required_domains or ())
