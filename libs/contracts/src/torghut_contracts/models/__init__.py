"""Message models, one per v1 topic (plus the value objects they carry)."""

from .control import GLOBAL_SCOPE, ControlCommand
from .decision import (
    Decision,
    DecisionIntent,
    EngineProvenance,
    OrderConstraints,
    ShadowVerdict,
    SizeRecommendation,
)
from .execution import AccountSnapshot, OrderState, Position, TradeUpdate
from .market import TaSignal
from .market_data import BarOrigin, MarketBar, MarketQuote
from .research import LaneGate, LaneRun
from .risk import ApprovedOrder, QuantityClamp, RiskVerdict
from .trigger import StrategyTrigger
from .whitepaper import GithubIssueEvent, WhitepaperRunEvent

__all__ = [
    "GLOBAL_SCOPE",
    "AccountSnapshot",
    "ApprovedOrder",
    "BarOrigin",
    "ControlCommand",
    "Decision",
    "DecisionIntent",
    "EngineProvenance",
    "GithubIssueEvent",
    "LaneGate",
    "LaneRun",
    "MarketBar",
    "MarketQuote",
    "OrderConstraints",
    "OrderState",
    "Position",
    "QuantityClamp",
    "RiskVerdict",
    "ShadowVerdict",
    "SizeRecommendation",
    "StrategyTrigger",
    "TaSignal",
    "TradeUpdate",
    "WhitepaperRunEvent",
]
