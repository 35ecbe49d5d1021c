"""Message ids derived from what a message *is*, so publishing the same bar again yields the same id.

A reconnect re-sends the last bar, a restart re-reads a file, a backfill may fetch a bar the stream
also sent: consumers deduplicate all of these by ``x-message-id``. A correction hashes its values
too, since Alpaca may correct the same minute more than once and each version is a new fact.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from torghut_contracts.headers import derived_message_id
from torghut_contracts.models import BarOrigin, MarketBar, MarketQuote

NAMESPACE = "market-data"


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def bar_message_id(bar: MarketBar) -> str:
    discriminators = [bar.symbol, bar.start.isoformat(), bar.window, bar.origin.value]
    if bar.origin is BarOrigin.CORRECTION:
        discriminators.append(_digest(bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count, bar.vwap))
    return derived_message_id(NAMESPACE, *discriminators)


def quote_message_id(quote: MarketQuote) -> str:
    return derived_message_id(NAMESPACE, "quote", quote.symbol, quote.ts.isoformat(),
                              _digest(quote.bid, quote.ask, quote.bid_size, quote.ask_size))


def dead_letter_id(raw: bytes) -> str:
    return derived_message_id(NAMESPACE, "dlq", hashlib.sha256(raw).hexdigest())


def backfill_range(missing: list[datetime]) -> tuple[datetime, datetime]:
    """The historical request's [start, end] covering ``missing`` (non-empty, oldest first)."""
    return missing[0], missing[-1]
