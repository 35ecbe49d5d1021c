"""Signal builders for tests and benchmarks of the strategy core and its users (no test framework here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from torghut_contracts.models import TaSignal

#: Thursday 2026-02-12 10:31 America/New_York: inside the regular session.
T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)


def make_signal(seq: int, *, symbol: str = "AAPL", at: datetime | None = None, **fields: Any) -> TaSignal:
    """A complete, in-session, tightly quoted signal one second per seq after T0; ``fields`` override.

    A field given as None is left out.
    """
    values: dict[str, Any] = {
        "symbol": symbol, "event_ts": at or T0 + timedelta(seconds=seq), "seq": seq, "price": Decimal("100"),
        "macd": Decimal("0.5"), "macd_signal": Decimal("0"), "rsi14": Decimal("50"),
        "bid": Decimal("99.99"), "ask": Decimal("100.01"),
    }
    values.update(fields)
    return TaSignal.model_validate({k: v for k, v in values.items() if v is not None})
