"""The engine's judgement over a whole signal set at once, for backtests.

:func:`.engine.evaluate` takes one signal at a time, as signal-trigger receives them; a backtest over
a million signals cannot afford that per-record Python. :func:`scan` reaches the same triggers in
three passes, replaying the stream as signal-trigger does in ``CLOCK=event`` (the reference
time is the stream watermark, the largest event time seen so far):

1. **sequence**, per (symbol, bar window), vectorised: a signal reaches the strategies' memory only
   if its seq is above every seq seen before and its event time is not below the last accepted one
   (the anti-replay window's NEW verdict and the engine's backwards-time check);
2. **memory**, per strategy, vectorised: the MACD side and the RSI zone of every accepted signal,
   resetting where a needed indicator is missing, and the candidates where the side or zone changes;
3. **judgement**, per candidate, with the engine's own code: the exact signal is rebuilt, gated
   (:func:`.gates.content_gates`) and judged (:func:`.engine.judge_candidates`: session, filters,
   cooldown), so triggers, request ids and suppressions are the engine's, field for field.

Indicators travel here as float64; where a comparison lies within rounding of a level, the exact
decimal of that signal decides, through the same :mod:`.steps` functions the live step uses. The
property tests feed random streams to both :func:`scan` and :func:`.engine.evaluate` and require
the same output, one for one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import numpy as np
import numpy.typing as npt
import pandas as pd
from torghut_contracts.models import StrategyTrigger, TaSignal

from .book import MacdCrossStrategy, RsiReversionStrategy, Strategy
from .engine import EngineConfig, Suppressed, judge_candidates
from .gates import content_gates
from .steps import (
    MACD_CROSS_DOWN,
    MACD_CROSS_UP,
    RSI_OVERBOUGHT,
    RSI_OVERSOLD,
    Candidate,
    RsiBand,
    macd_side,
    rsi_band,
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
_RELATIVE_TOLERANCE = 1e-9
_ABOVE, _BELOW = 1, -1
_NO_ZONE, _OVERSOLD, _NEUTRAL, _OVERBOUGHT = 0, 1, 2, 3


@dataclass(frozen=True)
class SignalColumns:
    """A signal set as columns, rows in the order signal-trigger would receive them.

    ``event_ns`` is the event time in integer nanoseconds (UTC); a missing indicator is NaN.
    ``signal_at(i)`` rebuilds row ``i`` exactly (for the few rows judged one by one).
    """

    symbol: npt.NDArray[np.object_]
    stream: npt.NDArray[np.object_]
    seq: Ints
    event_ns: Ints
    source: npt.NDArray[np.object_]
    macd: Floats
    macd_signal: Floats
    rsi14: Floats
    signal_at: Callable[[int], TaSignal]

    def __len__(self) -> int:
        return len(self.seq)


@dataclass(frozen=True)
class ScanResult:
    triggers: list[tuple[int, StrategyTrigger]]
    """(row, trigger) in the order :func:`.engine.evaluate` would emit them."""
    suppressed: list[tuple[int, Suppressed]]
    accepted: Bools
    """Rows that reached the strategies' memory (not refused by source, sequence or time order)."""


@dataclass(frozen=True)
class _Groups:
    """Rows of allowed sources, sorted stably by (symbol, stream): each group is one contiguous run."""

    rows: Ints
    """Original row of each sorted position."""
    start: Bools
    """True at the first position of each group."""
    first: Ints
    """Position of the first row of each position's group."""
    keys: list[tuple[str, str]]
    group_of: Ints


def scan(columns: SignalColumns, config: EngineConfig) -> ScanResult:
    """Every trigger and suppression ``columns`` produce, replayed from empty state."""
    n = len(columns)
    if n == 0:
        return ScanResult([], [], np.zeros(0, dtype=bool))
    watermark = np.maximum.accumulate(columns.event_ns)
    groups = _group(columns, config)
    accepted_sorted = _accepted(columns, groups)
    accepted = np.zeros(n, dtype=bool)
    accepted[groups.rows[accepted_sorted]] = True

    candidates: list[tuple[int, int, Candidate]] = []  # (row, strategy index, candidate)
    strategies = [s for s in config.strategies.strategies if s.enabled]
    for index, strategy in enumerate(strategies):
        applies = np.array([strategy.applies_to(symbol, stream or None) for symbol, stream in groups.keys],
                           dtype=bool)
        positions = np.flatnonzero(accepted_sorted & applies[groups.group_of])
        if not len(positions):
            continue
        for position, candidate in _candidates(strategy, columns, groups, positions):
            candidates.append((int(groups.rows[position]), index, candidate))

    triggers: list[tuple[int, StrategyTrigger]] = []
    suppressed: list[tuple[int, Suppressed]] = []
    last_fired: dict[tuple[str, str, int], dict[str, datetime]] = {}
    for row, index, candidate in sorted(candidates, key=lambda c: (c[0], c[1])):
        signal = columns.signal_at(row)
        reference = pd.Timestamp(int(watermark[row]), tz=UTC).to_pydatetime()
        if content_gates(signal, config.gates, reference):
            continue  # a gated signal steps the memory but fires nothing, as in the engine
        fired = last_fired.setdefault((signal.symbol, str(columns.stream[row]), index), {})
        new_triggers: list[StrategyTrigger] = []
        new_suppressed: list[Suppressed] = []
        session_open = partial(config.session.is_open, signal.event_ts)
        judge_candidates(strategies[index], [candidate], signal, fired, session_open, reference, new_triggers,
                         new_suppressed)
        triggers += [(row, t) for t in new_triggers]
        suppressed += [(row, s) for s in new_suppressed]
    return ScanResult(triggers, suppressed, accepted)


def _group(columns: SignalColumns, config: EngineConfig) -> _Groups:
    allowed_sources = config.gates.allowed_sources
    if allowed_sources:
        allowed = np.flatnonzero(pd.Series(columns.source).isin(sorted(allowed_sources)).to_numpy())
    else:
        allowed = np.arange(len(columns), dtype=np.int64)
    keys = pd.MultiIndex.from_arrays([columns.symbol[allowed], columns.stream[allowed]])
    codes, uniques = pd.factorize(keys)
    order = np.argsort(codes, kind="stable")
    rows = allowed[order].astype(np.int64)
    group_of = codes[order].astype(np.int64)
    start = np.ones(len(rows), dtype=bool)
    start[1:] = group_of[1:] != group_of[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(len(rows)), 0))
    return _Groups(rows, start, first, [(str(s), str(w)) for s, w in uniques], group_of)


def _shifted(values: Ints, start: Bools, fill: int) -> Ints:
    """``values`` moved one position down inside each group; ``fill`` at each group's start."""
    out = np.empty_like(values)
    if len(values):
        out[0] = fill
        out[1:] = values[:-1]
        out[start] = fill
    return out


def _group_cummax(values: Ints, group_of: Ints) -> Ints:
    return pd.Series(values).groupby(group_of).cummax().to_numpy(dtype=np.int64)


def _accepted(columns: SignalColumns, groups: _Groups) -> Bools:
    """The anti-replay window's NEW verdict, then the engine's check that event time never goes back.

    A seq is NEW exactly when it is above every seq seen before in its stream (a late or repeated
    seq never raises the highest one). Among NEW signals, one is refused when its event time is
    below the latest *accepted* one, and that latest accepted time equals the latest NEW time: a
    NEW signal that was refused had a time below it already.
    """
    lowest = np.iinfo(np.int64).min
    seq = columns.seq[groups.rows]
    ts = columns.event_ns[groups.rows]
    highest_before = _shifted(_group_cummax(seq, groups.group_of), groups.start, lowest)
    new = seq > highest_before
    latest_new_before = _shifted(_group_cummax(np.where(new, ts, lowest), groups.group_of), groups.start, lowest)
    accepted: Bools = new & (ts >= latest_new_before)
    return accepted


def _candidates(strategy: Strategy, columns: SignalColumns, groups: _Groups,
                positions: Ints) -> list[tuple[int, Candidate]]:
    """(sorted position, candidate) of one strategy over its accepted positions (groups contiguous)."""
    rows = groups.rows[positions]
    start = np.ones(len(positions), dtype=bool)
    start[1:] = groups.group_of[positions[1:]] != groups.group_of[positions[:-1]]
    if isinstance(strategy, MacdCrossStrategy):
        up, down = _macd_crosses(strategy, columns, rows, start)
        found = [(p, MACD_CROSS_UP) for p in positions[up]] + [(p, MACD_CROSS_DOWN) for p in positions[down]]
    elif isinstance(strategy, RsiReversionStrategy):
        zone = _rsi_zone(strategy, columns, rows, start)
        previous = _shifted(zone, start, _NO_ZONE)
        entered = (previous != _NO_ZONE) & (zone != previous)
        found = ([(p, RSI_OVERSOLD) for p in positions[entered & (zone == _OVERSOLD)]]
                 + [(p, RSI_OVERBOUGHT) for p in positions[entered & (zone == _OVERBOUGHT)]])
    else:  # pragma: no cover - the book validates types
        raise TypeError(f"no vectorised step for {type(strategy).__name__}")
    return [(int(p), c) for p, c in found]


def _macd_crosses(strategy: MacdCrossStrategy, columns: SignalColumns, rows: Ints,
                  start: Bools) -> tuple[Bools, Bools]:
    macd, signal_line = columns.macd[rows], columns.macd_signal[rows]
    reset = np.isnan(macd) | np.isnan(signal_line)
    separation = float(strategy.params.min_separation)
    with np.errstate(invalid="ignore"):
        diff = macd - signal_line
        side = np.where(diff > separation, _ABOVE, np.where(diff < -separation, _BELOW, 0)).astype(np.int64)
        tolerance = _RELATIVE_TOLERANCE * (np.abs(macd) + np.abs(signal_line) + separation)
        near = ~reset & ((np.abs(diff - separation) <= tolerance) | (np.abs(diff + separation) <= tolerance))
    for i in np.flatnonzero(near):  # within rounding of the dead band's edge: the exact decimals decide
        exact = columns.signal_at(int(rows[i]))
        assert exact.macd is not None and exact.macd_signal is not None
        decided = macd_side(exact.macd - exact.macd_signal, strategy.params.min_separation)
        side[i] = {"above": _ABOVE, "below": _BELOW, None: 0}[decided]
    side[reset] = 0
    # The side holds through the dead band; a reset (missing indicator) or a new stream forgets it.
    anchor = reset | (side != 0) | start
    state = side[np.maximum.accumulate(np.where(anchor, np.arange(len(side)), 0))]
    previous = _shifted(state, start, 0)
    up = ~reset & (previous == _BELOW) & (state == _ABOVE)
    down = ~reset & (previous == _ABOVE) & (state == _BELOW)
    return up, down


def _rsi_zone(strategy: RsiReversionStrategy, columns: SignalColumns, rows: Ints, start: Bools) -> Ints:
    params = strategy.params
    rsi = columns.rsi14[rows]
    reset = np.isnan(rsi)
    levels = [float(params.oversold), float(params.oversold_exit), float(params.overbought_exit),
              float(params.overbought)]
    with np.errstate(invalid="ignore"):
        band = np.select(
            [rsi <= levels[0], rsi >= levels[3], rsi < levels[1], rsi > levels[2]],
            [RsiBand.OVERSOLD, RsiBand.OVERBOUGHT, RsiBand.OVERSOLD_EXIT, RsiBand.OVERBOUGHT_EXIT],
            RsiBand.NEUTRAL).astype(np.int64)
        near = ~reset & np.any([np.abs(rsi - level) <= _RELATIVE_TOLERANCE * max(level, 1.0) for level in levels],
                               axis=0)
    for i in np.flatnonzero(near):
        exact = columns.signal_at(int(rows[i]))
        assert exact.rsi14 is not None
        band[i] = rsi_band(exact.rsi14, params)
    band[reset] = 0
    zone = np.full(len(rows), _NEUTRAL, dtype=np.int64)
    zone[band == RsiBand.OVERSOLD] = _OVERSOLD
    zone[band == RsiBand.OVERBOUGHT] = _OVERBOUGHT
    zone[reset] = _NO_ZONE
    # An exit band keeps the zone it continues: the row before its run of that band must be the extreme.
    for sticky, extreme, value in ((RsiBand.OVERSOLD_EXIT, RsiBand.OVERSOLD, _OVERSOLD),
                                   (RsiBand.OVERBOUGHT_EXIT, RsiBand.OVERBOUGHT, _OVERBOUGHT)):
        in_band = band == sticky
        before_run = np.maximum.accumulate(np.where(~in_band, np.arange(len(band)), -1))
        first_of_group = np.maximum.accumulate(np.where(start, np.arange(len(band)), 0))
        keeps = in_band & (before_run >= first_of_group) & (band[np.maximum(before_run, 0)] == extreme)
        zone[keeps] = value
    return zone


def columns_of(signals: list[TaSignal]) -> SignalColumns:
    """Columns of signals already in memory (tests, small inputs); a loader builds them without objects."""

    def floats(name: str) -> Floats:
        return np.array([float(v) if (v := getattr(s, name)) is not None else np.nan for s in signals],
                        dtype=np.float64)

    return SignalColumns(
        symbol=np.array([s.symbol for s in signals], dtype=object),
        stream=np.array([s.window or "" for s in signals], dtype=object),
        seq=np.array([s.seq for s in signals], dtype=np.int64),
        event_ns=np.array([to_ns(s.event_ts) for s in signals], dtype=np.int64),
        source=np.array([s.source for s in signals], dtype=object),
        macd=floats("macd"), macd_signal=floats("macd_signal"), rsi14=floats("rsi14"),
        signal_at=signals.__getitem__,
    )


def to_ns(moment: datetime) -> int:
    """A UTC datetime as integer nanoseconds, exactly (a float timestamp would round microseconds)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
