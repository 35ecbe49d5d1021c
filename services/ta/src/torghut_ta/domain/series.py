"""One bar series (a symbol at one bar window): its state, the rules for awkward bars, and the signal.

Rules, in the order they are checked (each skipped bar is counted under its reason, never raised):

* ``unknown_symbol``: a universe is configured (``TA_SYMBOLS``) and the symbol is outside it;
* ``bad_window``: the bar's window is not a positive ISO 8601 day/time duration;
* ``correction``: an ``origin=correction`` bar for a window at or before the last one applied. The
  indicators are not rewound (talipp could remove the last value, but not an older one, and a
  rewind would change signals already published): the correction is counted and dropped. A
  correction for a window not applied yet is simply the first bar of that window, and is applied;
* ``duplicate_bar``: the same start as the last bar applied: nothing changes;
* ``late_bar``: a start before the last bar applied: applying it would put the series out of order.

A bar the contract refuses (high below low, negative volume, a close outside the range) never gets
here: the runtime dead-letters it to ``torghut.market.bars.v1.dlq``.

Series are kept per (symbol, window), so a source publishing both one-second and one-minute bars
for a symbol gets two independent series (as the signal-trigger keeps a stream per window);
``seq`` counts the bars applied to the series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from torghut_contracts.models import BarOrigin, MarketBar, MarketQuote, TaSignal

from .indicators import Indicators, IndicatorValues
from .quotes import QuoteFields, quote_fields
from .vwap import SessionHours, SessionVwap, WindowVwap
from .window import parse_window

PLACES = Decimal("1e-12")
"""Indicator values travel rounded to 12 decimal places: the contract allows 20, floats carry ~16
significant digits, and rounding (half-even, deterministic) keeps the wire free of float noise."""


class Skip(StrEnum):
    """Why a bar was not applied (the ``reason`` label of ``torghut_ta_bars_skipped_total``)."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    BAD_WINDOW = "bad_window"
    CORRECTION = "correction"
    DUPLICATE = "duplicate_bar"
    LATE = "late_bar"


@dataclass(frozen=True)
class Rules:
    """What the settings decide about every series."""

    universe: frozenset[str] | None = None
    """Symbols to compute; None: every symbol."""
    quote_max_age: timedelta = timedelta(seconds=15)
    session: SessionHours = field(default_factory=SessionHours)
    vwap_span: timedelta = timedelta(minutes=5)
    source: str = "ta"


@dataclass
class SeriesState:
    """Everything a series remembers between bars; what Postgres stores (pickled) per series."""

    symbol: str
    window: str
    seq: int = 0
    last_start: datetime | None = None
    indicators: Indicators = field(default_factory=Indicators)
    session_vwap: SessionVwap = field(default_factory=SessionVwap)
    window_vwap: WindowVwap = field(default_factory=WindowVwap)


def admit(bar: MarketBar, rules: Rules) -> Skip | None:
    """The checks that need no state: is this a series we compute at all?"""
    if rules.universe is not None and bar.symbol not in rules.universe:
        return Skip.UNKNOWN_SYMBOL
    if parse_window(bar.window) is None:
        return Skip.BAD_WINDOW
    return None


def screen(state: SeriesState, bar: MarketBar) -> Skip | None:
    """The checks against the series' state: may this bar extend it?"""
    last = state.last_start
    if last is None or bar.start > last:
        return None
    if bar.origin is BarOrigin.CORRECTION:
        return Skip.CORRECTION
    return Skip.DUPLICATE if bar.start == last else Skip.LATE


def apply(state: SeriesState, bar: MarketBar, quote: MarketQuote | None, rules: Rules) -> TaSignal:
    """Extend the series by ``bar`` (admitted and screened) and return its signal. Mutates ``state``."""
    close_ts, values, vwap, vwap_w5m = _extend(state, bar, rules)
    return _signal(state, bar, close_ts, values, vwap, vwap_w5m, quote_fields(quote, close_ts, rules.quote_max_age),
                   rules.source)


def replay(state: SeriesState, bars: Sequence[MarketBar], rules: Rules) -> None:
    """Extend the series by bars applied before (a stored snapshot's later bars, in order): the state
    they left then, without building their signals again. Mutates ``state``."""
    for bar in bars:
        _extend(state, bar, rules)


def _extend(state: SeriesState, bar: MarketBar,
            rules: Rules) -> tuple[datetime, IndicatorValues, float | None, float | None]:
    length = parse_window(bar.window)
    assert length is not None, "admit() refuses bars without a window"
    high, low, close, volume = float(bar.high), float(bar.low), float(bar.close), float(bar.volume)
    values = state.indicators.add(float(bar.open), high, low, close, volume)
    price = float(bar.vwap) if bar.vwap is not None else (high + low + close) / 3
    vwap = state.session_vwap.add(rules.session.session_of(bar.start), price, volume)
    vwap_w5m = state.window_vwap.add(bar.start, price, volume, rules.vwap_span)
    state.seq += 1
    state.last_start = bar.start
    return bar.start + length, values, vwap, vwap_w5m


def _signal(state: SeriesState, bar: MarketBar, close_ts: datetime, values: IndicatorValues, vwap: float | None,
            vwap_w5m: float | None, quote: QuoteFields, source: str) -> TaSignal:
    return TaSignal(
        symbol=bar.symbol, event_ts=close_ts, seq=state.seq, source=source, price=bar.close,
        macd=_dec(values.macd), macd_signal=_dec(values.macd_signal), macd_hist=_dec(values.macd_hist),
        rsi14=_dec(values.rsi14), ema12=_dec(values.ema12), ema26=_dec(values.ema26),
        vwap=_dec(vwap), vwap_w5m=_dec(vwap_w5m),
        boll_mid=_dec(values.boll_mid), boll_upper=_dec(values.boll_upper), boll_lower=_dec(values.boll_lower),
        atr14=_dec(values.atr14), warmup=not values.complete, volume=bar.volume, window=bar.window,
        bid=quote.bid, ask=quote.ask, bid_size=quote.bid_size, ask_size=quote.ask_size, spread_bps=quote.spread_bps,
    )


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(PLACES, rounding=ROUND_HALF_EVEN)
