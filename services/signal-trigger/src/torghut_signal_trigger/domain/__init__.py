"""The pure core: deterministic functions over contract models, no I/O."""

from .engine import EngineConfig, Evaluation, Suppressed, evaluate, request_id_for
from .gates import GateConfig, GateReason
from .session import TradingSession
from .state import SymbolState

__all__ = ["EngineConfig", "Evaluation", "GateConfig", "GateReason", "Suppressed", "SymbolState", "TradingSession",
           "evaluate", "request_id_for"]
