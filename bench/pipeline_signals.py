"""The signals the pipeline benches send: bars on the demo's recorded day that cross MACD on demand.

Shared by every phase of :mod:`bench.pipeline` and by :mod:`bench.burst`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from torghut_contracts.models import TaSignal

SESSION_OPEN = datetime(2026, 2, 12, 14, 30, tzinfo=UTC)  # 09:30 New York, the demo dataset's day
#: Different tickers for the rate steps and the decision burst, so they never disturb a latency
#: sample's position.
RATE_SYMBOLS = ("ORCL", "CRM", "ADBE", "INTC", "QCOM", "TXN", "IBM", "CSCO", "PEP", "KO",
                "WMT", "COST", "JPM", "BAC", "XOM", "CVX", "UNH", "PFE", "DIS", "NKE")


def make_signal(symbol: str, at: datetime, seq: int, *, bullish: bool, price: Decimal = Decimal(100)) -> TaSignal:
    """A one-minute bar with a tight quote and RSI 55: MACD 0.12 above or 0.10 below its signal line."""
    return TaSignal(symbol=symbol, event_ts=at, seq=seq, price=price,
                    macd=Decimal("0.12") if bullish else Decimal("-0.10"), macd_signal=Decimal(0),
                    rsi14=Decimal(55), bid=price - Decimal("0.01"), ask=price + Decimal("0.01"),
                    spread_bps=Decimal(2), volume=Decimal(50_000), window="PT1M")
