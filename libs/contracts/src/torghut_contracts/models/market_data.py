"""``torghut.market.bars.v1`` and ``torghut.market.quotes.v1``: the market as the data source saw it.

market-data publishes them (from Alpaca's stream, its historical API for gaps, or a file of bars);
ta turns bars and quotes into ``torghut.ta.signals.v1``. A bar whose prices contradict each other
(a high below its low, a close outside the range) cannot be a fact about the market: the model
refuses it, so a consumer dead-letters it instead of computing indicators from it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from torghut_contracts.types import Label, NonNegative, Price, Symbol, UtcDatetime

from .base import Contract


class BarOrigin(StrEnum):
    STREAM = "stream"
    """The live stream's bar for a window just closed."""
    CORRECTION = "correction"
    """The source corrected a bar it had sent (Alpaca's ``updatedBars``): it replaces the earlier one."""
    BACKFILL = "backfill"
    """Fetched from the historical API to fill a gap the stream left."""
    FILE = "file"
    """Read from a file of bars (a backfill, a replay, research)."""


class MarketBar(Contract):
    """One OHLCV bar of one symbol; ``start`` is the window's opening time, as Alpaca stamps bars."""

    symbol: Symbol
    start: UtcDatetime
    window: Label = Field(default="PT1M", min_length=1, max_length=16, description="ISO 8601 duration.")
    open: Price
    high: Price
    low: Price
    close: Price
    volume: NonNegative
    trade_count: int | None = Field(default=None, ge=0, le=2**63 - 1)
    vwap: Price | None = None
    source: Label = Field(default="alpaca", min_length=1, max_length=64, description="e.g. alpaca-iex, file.")
    origin: BarOrigin = BarOrigin.STREAM
    late: bool = Field(default=False, description="Published after a later bar of the same symbol.")

    @model_validator(mode="after")
    def _consistent_range(self) -> MarketBar:
        if self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        for name in ("open", "close"):
            value = getattr(self, name)
            if not self.low <= value <= self.high:
                raise ValueError(f"{name} {value} is outside the bar's range [{self.low}, {self.high}]")
        return self


class MarketQuote(Contract):
    """The best bid and offer of one symbol at ``ts``. A zero price means no bid (or no offer) was standing.

    A crossed or locked quote is still a fact the exchange reported; judging it is the consumer's job.
    """

    symbol: Symbol
    ts: UtcDatetime
    bid: NonNegative
    ask: NonNegative
    bid_size: NonNegative
    ask_size: NonNegative
    source: Label = Field(default="alpaca", min_length=1, max_length=64)
