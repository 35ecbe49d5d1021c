"""The position rule, fills, costs and the equity curve, against sums done by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from torghut_contracts.enums import Side
from torghut_research.backtest.simulate import Market, Trades, simulate
from torghut_research.config import Costs, Portfolio, StressCase
from torghut_research.signals import Inbound, build_signal_set

T0 = datetime(2026, 2, 12, 15, 0, tzinfo=UTC)
NS = 1_000_000_000


def market(prices: list[float], *, bid_ask: tuple[float, float] | None = None, volume: int | None = None) -> Market:
    records = []
    for i, price in enumerate(prices):
        value = {"symbol": "AAPL", "event_ts": (T0 + timedelta(minutes=i)).isoformat(), "seq": i + 1,
                 "price": str(price)}
        if bid_ask:
            value.update(bid=str(price - bid_ask[0]), ask=str(price + bid_ask[1]))
        if volume:
            value["volume"] = str(volume)
        records.append(Inbound("test", i + 1, json.dumps(value).encode()))
    return Market(build_signal_set("test", records))


def trades(*items: tuple[int, Side], shorts: bool = False) -> Trades:
    return Trades.from_triggers([(row, "s1", "AAPL", side) for row, side in items], allow_shorts=shorts)


FREE = Costs(slippage_bps=0, default_spread_bps=0, impact_bps_at_full_participation=0)
BOOK = Portfolio(capital=10_000, position_notional=1_000)
START, END = int(T0.timestamp() * NS), int((T0 + timedelta(hours=1)).timestamp() * NS)


def test_a_round_trip_without_costs_earns_the_price_move() -> None:
    result = simulate(market([100, 101, 102, 101]), trades((0, Side.BUY), (2, Side.SELL)), START, END, BOOK, FREE)
    # 1,000 / 100 = 10 shares bought at 100, sold at 102.
    assert result.equity.tolist() == pytest.approx([0, 10, 20, 20])
    assert (result.fill_count, result.trade_count, result.decision_count) == (2, 1, 2)
    assert result.turnover_notional == pytest.approx(1000 + 1020)
    assert result.total_cost == 0


def test_an_open_position_is_closed_at_the_window_end_paying_its_cost() -> None:
    costs = Costs(slippage_bps=10, default_spread_bps=0, impact_bps_at_full_participation=0)
    result = simulate(market([100, 101, 99]), trades((0, Side.BUY)), START, END, BOOK, costs)
    entry, exit_ = 1000 * 10 / 1e4, 10 * 99 * 10 / 1e4
    assert result.total_cost == pytest.approx(entry + exit_)
    assert result.equity[-1] == pytest.approx(-10 - entry - exit_)
    assert (result.fill_count, result.trade_count) == (2, 1)


def test_quoted_spread_commission_and_impact_add_up_per_fill() -> None:
    costs = Costs(commission_bps=1, commission_per_share=0.01, min_commission=0.5, slippage_bps=2,
                  default_spread_bps=99, impact_bps_at_full_participation=50, max_participation_rate=0.001)
    result = simulate(market([100, 100], bid_ask=(0.05, 0.05), volume=1000), trades((0, Side.BUY)), START, END,
                      BOOK, costs)
    spread_bps = 0.10 / 100 * 1e4 / 2          # half of 10 bps quoted
    impact_bps = 50 * 10 / 1000                # 10 shares of a 1,000-share bar
    per_fill = 1000 * (spread_bps + 2 + impact_bps) / 1e4 + max(1000 * 1 / 1e4 + 10 * 0.01, 0.5)
    assert result.total_cost == pytest.approx(2 * per_fill)
    assert result.capacity_warnings == 2       # 1 % of the bar is over the 0.1 % allowed


def test_a_sell_goes_flat_or_short_and_repeats_change_nothing() -> None:
    prices = [100, 100, 90, 90]
    flat = simulate(market(prices), trades((0, Side.SELL), (1, Side.SELL)), START, END, BOOK, FREE)
    assert flat.fill_count == 0 and flat.equity[-1] == 0
    short = simulate(market(prices), trades((0, Side.SELL), (1, Side.SELL), shorts=True), START, END, BOOK, FREE)
    assert short.equity[-1] == pytest.approx(100)  # 10 shares short from 100 to 90
    assert short.fill_count == 2


def test_a_delayed_fill_takes_a_later_bar_and_one_past_the_window_never_happens() -> None:
    prices = [100, 105, 110, 110]
    late = simulate(market(prices), trades((0, Side.BUY)), START, END, BOOK, FREE, StressCase(name="x", delay_bars=1))
    assert late.equity[-1] == pytest.approx(1000 / 105 * 5)
    never = simulate(market(prices), trades((0, Side.BUY)), START, END, BOOK, FREE,
                     StressCase(name="x", delay_bars=9))
    assert never.fill_count == 0 and never.equity[-1] == 0


def test_only_the_window_counts_and_it_starts_flat() -> None:
    m = market([100, 110, 120, 130])
    result = simulate(m, trades((0, Side.BUY), (3, Side.SELL)), START + 2 * 60 * NS, END, BOOK, FREE)
    assert result.decision_count == 1 and result.fill_count == 0  # the buy was before the window
