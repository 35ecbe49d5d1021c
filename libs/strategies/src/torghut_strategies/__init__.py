"""The strategy core that signal-trigger runs live and the research lane backtests.

Deterministic functions over contract models, no I/O: the strategy book (:mod:`.book`), the signal
gates, the trading session, the per-symbol state and the strategy steps, put together by
:func:`.engine.evaluate`. Living here rather than in signal-trigger is what keeps a backtested
strategy and a live one the same code. The one exception to "no I/O" is :mod:`.clickhouse` (reading
the signal table, behind the ``clickhouse`` extra), shared for the same reason: the same rows live
and in a backtest.
"""

from .engine import EngineConfig, Evaluation, Suppressed, evaluate, request_id_for
from .gates import GateConfig, GateReason
from .session import TradingSession
from .state import SymbolState

__all__ = ["EngineConfig", "Evaluation", "GateConfig", "GateReason", "Suppressed", "SymbolState", "TradingSession",
           "evaluate", "request_id_for"]
