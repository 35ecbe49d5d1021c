"""Builders for clickhouse-sink's tests (no test framework imported here): bars, and the signals ta
would stamp for them. A ClickHouse outage is played by :class:`torghut_embedded.tcp_proxy.TcpProxy`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from torghut_contracts.models import MarketBar, TaSignal

D = Decimal
T0 = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 New York


def bars(symbol: str, count: int, *, base: int = 100, first: datetime = T0) -> list[MarketBar]:
    """One-minute bars from ``first``, prices wandering deterministically."""
    out = []
    for i in range(count):
        close = D(base) + D((i * 37) % 23) / 4 - D((i * 11) % 7) / 2
        out.append(MarketBar(symbol=symbol, start=first + timedelta(minutes=i), open=close - D("0.25"),
                             high=close + D(1), low=close - D(1), close=close, volume=D(1000 + (i * 97) % 500),
                             trade_count=40 + i, vwap=close - D("0.1")))
    return out


def signal_for(bar: MarketBar, seq: int, **fields: Any) -> TaSignal:
    """The signal ta publishes for ``bar``: stamped at the bar's close, priced at it (``fields`` override;
    a field given as None is left out)."""
    values: dict[str, Any] = {
        "symbol": bar.symbol, "event_ts": bar.start + timedelta(minutes=1), "seq": seq, "price": bar.close,
        "macd": D("0.125") * (seq % 5 - 2), "macd_signal": D("0.0625"), "macd_hist": D("-0.0625"),
        "rsi14": D("48.5") + seq, "ema12": bar.close - D("0.5"), "ema26": bar.close - D("0.75"), "vwap": bar.vwap,
        "vwap_w5m": bar.close, "boll_mid": bar.close, "boll_upper": bar.close + 2, "boll_lower": bar.close - 2,
        "atr14": D("1.5"), "warmup": seq < 3, "bid": bar.close - D("0.01"), "ask": bar.close + D("0.01"),
        "bid_size": D(3), "ask_size": D(5), "spread_bps": D("2"), "volume": bar.volume, "window": bar.window,
    }
    values.update(fields)
    return TaSignal.model_validate({k: v for k, v in values.items() if v is not None})
