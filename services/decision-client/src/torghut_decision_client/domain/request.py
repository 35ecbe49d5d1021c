"""The decision-engine request (seed 002) for one trigger."""

from __future__ import annotations

from collections.abc import Sequence

from torghut_contracts.decision_engine import (
    DecisionRequest,
    ExecutionContext,
    PortfolioContext,
    RiskPolicyContext,
    TriggerContext,
)
from torghut_contracts.models import StrategyTrigger


def build_request(trigger: StrategyTrigger, *, account: str, portfolio: PortfolioContext,
                  risk_policy: RiskPolicyContext, execution: ExecutionContext,
                  required_domains: Sequence[str] | None) -> DecisionRequest:
    """The trigger's request id travels unchanged: the engine deduplicates runs by it."""
    return DecisionRequest(
        request_id=trigger.request_id,
        symbol=trigger.symbol,
        strategy_id=trigger.strategy_id,
        account=account,
        trigger=TriggerContext(
            type=trigger.trigger_type, event_ts=trigger.event_ts, source=trigger.source,
            direction=trigger.direction, price=trigger.price, features=dict(trigger.features),
        ),
        portfolio=portfolio,
        risk_policy=risk_policy,
        execution_context=execution,
        required_domains=list(required_domains) if required_domains is not None else None,
    )
