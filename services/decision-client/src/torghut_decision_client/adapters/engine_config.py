"""How the ``decision-engine`` transport connects, waits, reconnects and backs off."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..settings import DecisionClientSettings


@dataclass(frozen=True)
class EngineClientConfig:
    base_url: str
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    stall_timeout_s: float = 90.0
    poll_interval_s: float = 2.0
    deadline_s: float = 240.0
    max_reconnects: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    batch_max: int = 1
    """Runs asked in one batch request at most; 1 gives every run its own stream (see ``engine_batch``)."""

    @classmethod
    def from_settings(cls, settings: DecisionClientSettings) -> EngineClientConfig:
        return cls(
            base_url=settings.decision_engine_url.rstrip("/"),
            connect_timeout_s=settings.decision_engine_connect_timeout_s,
            read_timeout_s=settings.decision_engine_read_timeout_s,
            stall_timeout_s=settings.decision_engine_stall_timeout_s,
            poll_interval_s=settings.decision_engine_poll_interval_s,
            deadline_s=settings.decision_deadline_s,
            max_reconnects=settings.decision_engine_max_reconnects,
            backoff_initial_s=settings.decision_engine_backoff_initial_s,
            backoff_max_s=settings.decision_engine_backoff_max_s,
            batch_max=settings.decision_engine_batch_max,
        )

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many clients do not reconnect in step."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** max(attempt - 1, 0))
        return ceiling * random.uniform(0.5, 1.0)
