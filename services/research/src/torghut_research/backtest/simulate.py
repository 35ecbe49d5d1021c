"""From triggers to fills, costs and an equity curve, vectorised over one window.

The position rule (docs/research.md): each (strategy, symbol) is a slot holding a target of +1, 0
or -1 times ``position_notional`` dollars. A buy trigger sets +1; a sell sets 0, or -1 when shorts
are allowed. A change of target is filled at the price of the symbol's bar ``delay_bars`` after
the trigger (the trigger's own bar by default), in fractional shares; a fill that would land at or
past the window's end never happens. Each window starts flat and closes what is open at its last
priced bar, paying the exit cost.

Costs per fill, in basis points of its notional: half the quoted spread (from the fill bar's
bid/ask, else its ``spread_bps``, else ``default_spread_bps``), ``slippage_bps``, and impact
``impact_bps_at_full_participation`` x (shares / bar volume) where the volume is known; plus
commission (bps of notional + per share, at least ``min_commission``). Stress cases scale each
term and delay the fills.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from torghut_contracts.enums import Side

from ..config import Costs, Portfolio, StressCase
from ..signals import SignalSet

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
BASE = StressCase(name="base")


@dataclass(frozen=True)
class Trades:
    """One variant's triggers as arrays: original row, slot (strategy, symbol) and target."""

    rows: Ints
    slots: Ints
    targets: Floats
    slot_names: list[tuple[str, str]]

    @classmethod
    def from_triggers(cls, triggers: list[tuple[int, str, str, Side]], *, allow_shorts: bool) -> Trades:
        """``triggers``: (row, strategy id, symbol, direction) in row order."""
        names: dict[tuple[str, str], int] = {}
        rows, slots, targets = [], [], []
        for row, strategy_id, symbol, direction in triggers:
            rows.append(row)
            slots.append(names.setdefault((strategy_id, symbol), len(names)))
            targets.append(1.0 if direction is Side.BUY else (-1.0 if allow_shorts else 0.0))
        return cls(np.array(rows, dtype=np.int64), np.array(slots, dtype=np.int64),
                   np.array(targets, dtype=np.float64), list(names))


class Market:
    """The signals laid out in event-time order, with per-symbol prices carried forward."""

    def __init__(self, signals: SignalSet) -> None:
        columns = signals.columns
        self.order = np.argsort(columns.event_ns, kind="stable")
        self.position_of_row = np.empty_like(self.order)
        self.position_of_row[self.order] = np.arange(len(self.order))
        self.time = columns.event_ns[self.order]
        codes, uniques = pd.factorize(columns.symbol[self.order])
        self.symbol = codes.astype(np.int64)
        self.symbols = [str(s) for s in uniques]
        raw_price = signals.price[self.order]
        self.price = pd.Series(raw_price).groupby(self.symbol).ffill().to_numpy(dtype=np.float64)
        bid, ask = signals.bid[self.order], signals.ask[self.order]
        with np.errstate(invalid="ignore", divide="ignore"):
            quoted = np.where((bid > 0) & (ask >= bid), (ask - bid) / ((ask + bid) / 2) * 1e4, np.nan)
        self.spread_bps = np.where(np.isnan(quoted), signals.spread_bps[self.order], quoted)
        self.volume = signals.volume[self.order]
        priced = np.flatnonzero(~np.isnan(raw_price))
        # (symbol, position) of every priced bar, sorted, for "the k-th priced bar of this symbol after p".
        self._priced_key = self.symbol[priced] * len(self.time) + priced
        self._priced_sorted = np.argsort(self._priced_key, kind="stable")
        self._priced_positions = priced[self._priced_sorted]
        self._priced_key = self._priced_key[self._priced_sorted]

    def nth_priced_bar(self, positions: Ints, delay: int) -> Ints:
        """The position of each symbol's ``delay``-th priced bar at or after ``positions`` (-1: none)."""
        keys = self.symbol[positions] * len(self.time) + positions
        index = np.searchsorted(self._priced_key, keys, side="left") + delay
        inside = index < len(self._priced_key)
        found = np.full(len(positions), -1, dtype=np.int64)
        candidate = self._priced_positions[np.minimum(index, len(self._priced_key) - 1)]
        same_symbol = self.symbol[candidate] == self.symbol[positions]
        found[inside & same_symbol] = candidate[inside & same_symbol]
        return found

    def window(self, start: int, end: int) -> slice:
        return slice(int(np.searchsorted(self.time, start, "left")), int(np.searchsorted(self.time, end, "left")))


@dataclass(frozen=True)
class WindowResult:
    times: Ints
    """Distinct event times of the window (ns), and the equity (net P&L so far) at each."""
    equity: Floats
    gross_pnl: float
    total_cost: float
    turnover_notional: float
    average_exposure: float
    fill_count: int
    trade_count: int
    decision_count: int
    capacity_warnings: int
    """Fills above ``max_participation_rate`` of their bar's volume."""
    fills_without_volume: int


def simulate(market: Market, trades: Trades, start: int, end: int, portfolio: Portfolio, costs: Costs,
             stress: StressCase = BASE) -> WindowResult:
    window = market.window(start, end)
    trade_positions = market.position_of_row[trades.rows]
    in_window = (trade_positions >= window.start) & (trade_positions < window.stop)
    positions, slots, targets = trade_positions[in_window], trades.slots[in_window], trades.targets[in_window]
    fills = market.nth_priced_bar(positions, stress.delay_bars) if len(positions) else positions
    happens = (fills >= 0) & (fills < window.stop)
    fills, slots, targets = fills[happens], slots[happens], targets[happens]
    order = np.lexsort((fills, slots))
    fills, slots, targets = fills[order], slots[order], targets[order]
    # Keep the changes of target only, each slot starting flat.
    first_of_slot = np.ones(len(slots), dtype=bool)
    first_of_slot[1:] = slots[1:] != slots[:-1]
    previous_target = np.where(first_of_slot, 0.0, np.roll(targets, 1))
    changes = targets != previous_target
    fills, slots, targets = fills[changes], slots[changes], targets[changes]
    first_of_slot = np.ones(len(slots), dtype=bool)
    first_of_slot[1:] = slots[1:] != slots[:-1]
    quantity = targets * portfolio.position_notional / market.price[fills]
    previous_quantity = np.where(first_of_slot, 0.0, np.roll(quantity, 1))
    delta = quantity - previous_quantity
    # Close what is still open at each symbol's last priced bar of the window.
    last_of_slot = np.ones(len(slots), dtype=bool)
    last_of_slot[:-1] = slots[:-1] != slots[1:]
    open_at_end = last_of_slot & (quantity != 0)
    closing = _last_priced(market, window, market.symbol[fills[open_at_end]])
    trade_count = int(np.count_nonzero((previous_quantity != 0) & (np.sign(quantity) != np.sign(previous_quantity))))
    trade_count += int(np.count_nonzero(open_at_end))
    all_fills = np.concatenate([fills, closing])
    all_delta = np.concatenate([delta, -quantity[open_at_end]])
    cost, capacity, no_volume = _costs(market, all_fills, all_delta, costs, stress)
    notional = np.abs(all_delta) * market.price[all_fills]

    span = np.arange(window.start, window.stop)
    symbol = market.symbol[span]
    traded = np.zeros(len(span))
    np.add.at(traded, all_fills - window.start, all_delta)
    held_after = pd.Series(traded).groupby(symbol).cumsum().to_numpy()
    held_before = held_after - traded
    price = market.price[span]
    move = price - pd.Series(price).groupby(symbol).shift(1).to_numpy()
    increments = np.nan_to_num(held_before * move)
    cost_at = np.zeros(len(span))
    np.add.at(cost_at, all_fills - window.start, cost)
    equity = np.cumsum(increments - cost_at)
    times = market.time[span]
    last_of_time = np.ones(len(times), dtype=bool)
    last_of_time[:-1] = times[1:] != times[:-1]
    next_time = pd.Series(times).groupby(symbol).shift(-1).fillna(end).to_numpy()
    exposure = np.nan_to_num(np.abs(held_after) * price) * (next_time - times)
    return WindowResult(
        times=times[last_of_time], equity=equity[last_of_time], gross_pnl=float(increments.sum()),
        total_cost=float(cost.sum()), turnover_notional=float(notional.sum()),
        average_exposure=float(exposure.sum() / max(end - start, 1)), fill_count=len(all_fills),
        trade_count=trade_count, decision_count=int(np.count_nonzero(in_window)),
        capacity_warnings=capacity, fills_without_volume=no_volume)


def _last_priced(market: Market, window: slice, symbols: Ints) -> Ints:
    """For each symbol, its last bar in the window with a price."""
    span = np.arange(window.start, window.stop)
    priced = span[~np.isnan(market.price[span])]
    last: dict[int, int] = {}
    for position, symbol in zip(priced.tolist(), market.symbol[priced].tolist(), strict=True):
        last[symbol] = position
    return np.array([last[int(s)] for s in symbols], dtype=np.int64)


def _costs(market: Market, fills: Ints, delta: Floats, costs: Costs, stress: StressCase) -> tuple[Floats, int, int]:
    shares = np.abs(delta)
    notional = shares * market.price[fills]
    spread = market.spread_bps[fills]
    half_spread = np.where(np.isnan(spread), costs.default_spread_bps, spread) / 2
    volume = market.volume[fills]
    with np.errstate(invalid="ignore", divide="ignore"):
        participation = np.where(volume > 0, shares / volume, np.nan)
    impact = np.nan_to_num(participation) * costs.impact_bps_at_full_participation
    bps = (half_spread * stress.spread_multiplier + costs.slippage_bps * stress.slippage_multiplier
           + impact * stress.impact_multiplier)
    commission = np.maximum(notional * costs.commission_bps / 1e4 + shares * costs.commission_per_share,
                            costs.min_commission) * stress.commission_multiplier
    capacity = int(np.count_nonzero(participation > costs.max_participation_rate))
    return notional * bps / 1e4 + commission, capacity, int(np.count_nonzero(np.isnan(participation)))
