"""The talipp indicators of one bar series, updated one bar at a time and kept small.

talipp keeps every input and output it ever saw unless purged, so a symbol that has traded for a
year would carry a year of floats in its pickled state. And the state is unpickled and pickled
again for every batch that touches the series, so what it holds is paid for on every bar.

Once an indicator holds more than ``PURGE_AT`` inputs (from the 41st bar on, so after every
warm-up), each bar *trims* every indicator and its sub-indicators (MACD's two EMAs and its signal
line, Bollinger's SMA and deviation) to what their formulas read again:

* inputs: the last ``HISTORY`` (40). SMA's running sum reads ``period + 1`` inputs back (21), and
  EMA, RSI and ATR *reseed* when their input count is exactly their period (or the input before
  the period is missing), so no count may fall back to it. ATR's inputs are ``OHLCV`` objects, the
  dearest to store: it reads the last two and compares the count with its period, so it keeps
  ``ATR_PERIOD + 1``;
* outputs: the last one. Every formula reads only its own (or a sub-indicator's) last output, and
  a carried-forward ``None`` only before the warm-ups, which are over by then;
* the helper lists (RSI's average gain and loss, ATR's true ranges): the last one, which is all
  they read once seeded (by the 15th bar).

Trimming drops only values no formula reads again: a trimmed series computes exactly what an
untrimmed one would (unit tests check it bit for bit, signal after signal), and a series' pickled
state stays at about 7 KB (it was 18 KB when talipp's ``purge_oldest`` kept 40 to 56 of
everything, outputs and their ``MACDVal``/``BBVal`` objects included: most of a batch's time went
into unpickling, pickling and garbage-collecting those).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from talipp.indicators import ATR, BB, EMA, MACD, RSI
from talipp.indicators.Indicator import Indicator
from talipp.ohlcv import OHLCV

HISTORY = 40
"""Inputs each indicator keeps once trimmed (see the module's docstring for the lower bound)."""
PURGE_AT = HISTORY
"""Trim once more than this many inputs are held: after every bar from the 41st on."""
KEEP_OUTPUTS = 1
"""Outputs (and helper-list values) each indicator keeps once trimmed."""

MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
RSI_PERIOD = 14
BOLL_PERIOD, BOLL_STD_DEVS = 20, 2.0
ATR_PERIOD = 14
WARMUP_BARS = MACD_SLOW + MACD_SIGNAL - 1
"""Bars until the slowest value (the MACD signal line) exists: 34."""
ATR_HISTORY = ATR_PERIOD + 1
"""Inputs ATR keeps once trimmed: more than its period, so it never reseeds."""


@dataclass(frozen=True)
class IndicatorValues:
    """The indicators after a bar; None where an indicator has seen too few bars."""

    ema12: float | None
    ema26: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    rsi14: float | None
    boll_mid: float | None
    boll_upper: float | None
    boll_lower: float | None
    atr14: float | None

    @property
    def complete(self) -> bool:
        """Every indicator has a value: the series is warmed up."""
        return all(getattr(self, name) is not None for name in self.__dataclass_fields__)


class Indicators:
    """EMA12, EMA26, MACD(12, 26, 9), RSI14 (Wilder), Bollinger(20, 2 population std devs), ATR14 (Wilder).

    All of talipp's own definitions: EMA and the MACD lines seeded with the SMA of their first
    ``period`` inputs, RSI and ATR smoothed the Wilder way, Bollinger's deviation over the population
    (divided by 20, not 19), as the ``TaSignal`` contract documents.
    """

    def __init__(self) -> None:
        self.ema12 = EMA(MACD_FAST)
        self.ema26 = EMA(MACD_SLOW)
        self.macd = MACD(MACD_FAST, MACD_SLOW, MACD_SIGNAL)
        self.rsi = RSI(RSI_PERIOD)
        self.bb = BB(BOLL_PERIOD, BOLL_STD_DEVS)
        self.atr = ATR(ATR_PERIOD)

    def _all(self) -> tuple[Indicator, ...]:
        return (self.ema12, self.ema26, self.macd, self.rsi, self.bb, self.atr)

    def add(self, open_: float, high: float, low: float, close: float, volume: float) -> IndicatorValues:
        """Apply one bar and return the indicators after it."""
        for indicator in (self.ema12, self.ema26, self.macd, self.rsi, self.bb):
            indicator.add(close)
        self.atr.add(OHLCV(open_, high, low, close, volume))
        if self.held() > PURGE_AT:
            for indicator in self._all():
                _trim(indicator, ATR_HISTORY if indicator is self.atr else HISTORY)
        return self.values()

    def values(self) -> IndicatorValues:
        macd, bb = _last(self.macd), _last(self.bb)
        return IndicatorValues(
            ema12=_last(self.ema12), ema26=_last(self.ema26),
            macd=macd.macd if macd is not None else None,
            macd_signal=macd.signal if macd is not None else None,
            macd_hist=macd.histogram if macd is not None else None,
            rsi14=_last(self.rsi),
            boll_mid=bb.cb if bb is not None else None,
            boll_upper=bb.ub if bb is not None else None,
            boll_lower=bb.lb if bb is not None else None,
            atr14=_last(self.atr),
        )

    def held(self) -> int:
        """The most inputs any indicator holds (what the purge bounds)."""
        return max(len(indicator.input_values) for indicator in self._all())


def _trim(indicator: Indicator, inputs: int) -> None:
    """Cut ``indicator``'s lists, and its sub-indicators', to what their formulas read again (in place)."""
    del indicator.input_values[:-inputs]
    del indicator.output_values[:-KEEP_OUTPUTS]
    for managed in indicator.managed_sequences:
        if isinstance(managed, Indicator):
            _trim(managed, HISTORY)
        else:
            del managed[:-KEEP_OUTPUTS]
    for sub in indicator.sub_indicators:
        _trim(sub, HISTORY)


def _last(indicator: Indicator) -> Any:
    return indicator[-1] if len(indicator) else None
