"""``torghut.ta.signals.v1``: technical-analysis signals, one per symbol per bar."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from torghut_contracts.types import Label, NonNegative, Num, Percent, Price, SequenceNumber, Symbol, UtcDatetime

from .base import Contract


class TaSignal(Contract):
    """One TA observation for a symbol.

    Indicators are optional on the wire on purpose: a signal missing ``macd`` is a fact the
    signal-trigger gates and counts (fail closed), not a malformed message for the dead-letter topic.
    """

    symbol: Symbol
    event_ts: UtcDatetime
    seq: SequenceNumber = Field(description="Per-symbol sequence number from the TA source.")
    source: Label = Field(default="ta", min_length=1, max_length=64)
    price: Price | None = None
    macd: Num | None = None
    macd_signal: Num | None = None
    macd_hist: Num | None = None
    rsi14: Percent | None = None
    ema12: Num | None = None
    ema26: Num | None = None
    vwap: Num | None = Field(default=None, description="Session VWAP (since the regular session's open).")
    vwap_w5m: Num | None = Field(default=None, description="VWAP over the last five minutes of bars.")
    boll_mid: Num | None = Field(default=None, description="Bollinger middle band: SMA20 of the close.")
    boll_upper: Num | None = Field(default=None, description="SMA20 + 2 standard deviations (population).")
    boll_lower: Num | None = Field(default=None, description="SMA20 - 2 standard deviations (population).")
    atr14: NonNegative | None = Field(default=None, description="Average true range, Wilder's 14.")
    warmup: bool | None = Field(default=None, description="True while an indicator the source computes "
                                "has seen too few bars to be settled; such a signal is not traded on.")
    bid: Price | None = None
    ask: Price | None = None
    bid_size: NonNegative | None = None
    ask_size: NonNegative | None = None
    spread_bps: NonNegative | None = None
    volume: NonNegative | None = None
    window: Label | None = Field(default=None, max_length=16, description="Bar window, e.g. PT1S or PT1M.")

    # Derived values are properties, not fields: they never travel on the wire, so the schema stays as is.
    @property
    def quote_mid(self) -> Decimal | None:
        """The quote's midpoint, or None without a two-sided quote.

        Plain arithmetic: a crossed quote (bid above ask) still has a midpoint. Judging the quote's
        quality (missing, crossed, too wide) is the signal-trigger's gates' job, not this one's.
        """
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def mark_price(self) -> Decimal | None:
        """The price this signal marks its symbol at: the last price, else the quote's midpoint, else None.

        What positions are valued at and paper orders fill against. The traded price comes first
        because it is what happened; the midpoint only stands in for a signal that carries none.
        """
        return self.price if self.price is not None else self.quote_mid
