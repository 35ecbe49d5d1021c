"""Alpaca's historical bars (``GET /v2/stocks/bars``) for backfills, through alpaca-py's client.

The client is synchronous (requests, with its own retries on 429/504), so each call runs in a
worker thread: the event loop, and with it the Kafka producer, keeps going meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame


class HistoricalBars:
    def __init__(self, api_key: str, secret_key: str, *, feed: str, url: str | None) -> None:
        self.client = StockHistoricalDataClient(api_key, secret_key, raw_data=True, url_override=url)
        self.feed = DataFeed(feed)

    async def bars(self, symbol: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The raw minute bars of ``symbol`` from ``start`` to ``end`` (inclusive), each with ``S`` set."""
        request = StockBarsRequest(symbol_or_symbols=symbol, timeframe=TimeFrame.Minute, start=start, end=end,
                                   feed=self.feed)
        raw: Any = await asyncio.to_thread(self.client.get_stock_bars, request)
        return [{**bar, "S": symbol} for bar in (raw or {}).get(symbol, [])]
