"""The latest quote of a symbol, and whether a signal may carry it.

Rule: a signal carries the bid, the ask, their sizes and the spread only from a quote stamped no
more than ``max_age`` before the bar's close (15 s by default). A quote stamped *after* the close
is accepted too: it is the market as it stood when the signal was computed, and with only the
latest quote kept, refusing it would leave a live signal quoteless whenever the quote stream is
ahead of the bar stream. A price of zero means no bid (or no offer) was standing: that side is
None. A crossed quote is carried as reported (the signal-trigger gates it) but has no spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from torghut_contracts.models import MarketQuote

BPS = Decimal(10_000)
SPREAD_PLACES = Decimal("1e-8")


@dataclass(frozen=True)
class QuoteFields:
    """What a signal carries from a quote (all None without a fresh one)."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    spread_bps: Decimal | None = None


NO_QUOTE = QuoteFields()


def newer(current: MarketQuote | None, incoming: MarketQuote) -> bool:
    """Whether ``incoming`` replaces ``current`` as the latest quote (ties go to the later arrival)."""
    return current is None or incoming.ts >= current.ts


def quote_fields(quote: MarketQuote | None, close: datetime, max_age: timedelta) -> QuoteFields:
    """The quote fields a signal for a bar closing at ``close`` carries under the freshness rule."""
    if quote is None or quote.ts < close - max_age:
        return NO_QUOTE
    bid = quote.bid if quote.bid > 0 else None
    ask = quote.ask if quote.ask > 0 else None
    spread = None
    if bid is not None and ask is not None and ask >= bid:
        spread = ((ask - bid) / ((ask + bid) / 2) * BPS).quantize(SPREAD_PLACES)
    return QuoteFields(bid=bid, ask=ask, bid_size=quote.bid_size, ask_size=quote.ask_size, spread_bps=spread)
