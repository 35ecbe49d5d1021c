"""What every transport offers: one decision outcome per request, never an exception for an engine problem."""

from __future__ import annotations

from typing import Protocol

from torghut_contracts.decision_engine import DecisionRequest

from ..domain.outcome import EngineOutcome


class DecisionTransport(Protocol):
    name: str

    async def decide(self, request: DecisionRequest) -> EngineOutcome: ...

    async def aclose(self) -> None: ...
