"""Approvals reserve, fills move positions, terminal events release, snapshots reconcile, stops latch,
the end-of-day sweep flattens; control commands combine to the most restrictive posture."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, TradingState
from torghut_contracts.models import AccountSnapshot, ControlCommand, OrderState, Position, TradeUpdate
from torghut_contracts.posture import TradingPosture, effective_posture, supersedes
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.evaluate import evaluate_order
from torghut_risk_firewall.domain.ids import client_order_id, flatten_decision_id
from torghut_risk_firewall.domain.portfolio import (
    apply_snapshot,
    apply_trade_update,
    detect_latches,
    reserve,
    start_trading_day,
    with_latches,
)
from torghut_risk_firewall.domain.state import Latch, OpenOrder, PortfolioState
from torghut_risk_firewall.domain.sweep import sweep
from torghut_risk_firewall.domain.windows import NEW_YORK
from torghut_risk_firewall.testing import ACTIVE, NOW, D, decision, limits, market, portfolio


def update(event: TradeEvent, *, coid: str = "th-1", side: Side = Side.BUY, qty: Any = 10, filled: Any = 0,
           fill_qty: Any = None, status: OrderStatus = OrderStatus.NEW, at: datetime = NOW, fp: str = "a",
           price: Any = 100, symbol: str = "AAPL") -> TradeUpdate:
    return TradeUpdate(
        fingerprint=fp * 64, account="paper-main", venue=Adapter.PAPER, event=event, timestamp=at,
        order=OrderState(client_order_id=coid, symbol=symbol, side=side, qty=D(qty), filled_qty=D(filled),
                         status=status),
        fill_qty=None if fill_qty is None else D(fill_qty), fill_price=D(price),
    )


def snapshot(*, equity: Any = 100_000, positions: dict[str, Any] | None = None, at: datetime = NOW,
             last_equity: Any = None, buying_power: Any = 150_000,
             fills_through: datetime | None = None) -> AccountSnapshot:
    return AccountSnapshot(
        snapshot_id=f"snap-{at.isoformat()}", account="paper-main", venue=Adapter.PAPER, as_of=at, equity=D(equity),
        last_equity=None if last_equity is None else D(last_equity), cash=D(0), buying_power=D(buying_power),
        positions=[Position(symbol=s, qty=D(q), market_value=D(q) * 100) for s, q in (positions or {}).items()],
        fills_through=fills_through,
    )


def test_an_approval_reserves_its_quantity_and_stamps_rate_and_cooldown() -> None:
    pf = portfolio()
    verdict = evaluate_order(decision(), pf, ACTIVE, limits(), market(), NOW)
    after = reserve(pf, verdict, "AAPL")
    assert after.open_orders == (OpenOrder(verdict.client_order_id, "AAPL", Side.BUY, D(10), D(100), True),)
    assert after.recent_approvals == (NOW,) and after.last_approval_by_symbol == {"AAPL": NOW}
    vetoed = evaluate_order(decision(), pf, TradingPosture(), limits(), market(), NOW)
    assert reserve(pf, vetoed, "AAPL") == pf


def test_fills_move_the_position_and_shrink_the_reservation_then_the_order_is_released() -> None:
    coid = client_order_id("paper-main", "dec-1")
    pf = portfolio(snapshot_age_s=60,
                   open_orders=(OpenOrder(coid, "AAPL", Side.BUY, D(10), D(100), True),))
    pf = apply_trade_update(pf, update(TradeEvent.PARTIAL_FILL, coid=coid, filled=4,
                                       status=OrderStatus.PARTIALLY_FILLED))
    assert pf.positions == {"AAPL": D(4)} and pf.open_orders[0].remaining_qty == 6
    assert pf.buying_power == D(200_000) - 400
    pf = apply_trade_update(pf, update(TradeEvent.FILL, coid=coid, filled=10, fill_qty=6, status=OrderStatus.FILLED))
    assert pf.positions == {"AAPL": D(10)} and pf.open_orders == () and pf.filled_by_order == {}


def test_a_cancel_releases_what_is_left_and_keeps_what_filled() -> None:
    pf = portfolio(snapshot_age_s=60, open_orders=(OpenOrder("th-1", "AAPL", Side.BUY, D(10), D(100), True),))
    pf = apply_trade_update(pf, update(TradeEvent.PARTIAL_FILL, filled=3, status=OrderStatus.PARTIALLY_FILLED))
    pf = apply_trade_update(pf, update(TradeEvent.CANCELED, filled=3, status=OrderStatus.CANCELED, fp="b"))
    assert pf.positions == {"AAPL": D(3)} and pf.open_orders == ()


@pytest.mark.parametrize("event", [TradeEvent.NEW, TradeEvent.ACCEPTED, TradeEvent.PENDING_NEW,
                                   TradeEvent.DONE_FOR_DAY, TradeEvent.REPLACED])
def test_non_terminal_events_keep_the_reservation(event: TradeEvent) -> None:
    pf = portfolio(open_orders=(OpenOrder("th-1", "AAPL", Side.BUY, D(10), D(100), True),))
    assert apply_trade_update(pf, update(event)).open_orders == pf.open_orders


def test_a_fill_of_an_order_we_did_not_approve_still_moves_the_position() -> None:
    pf = apply_trade_update(portfolio(snapshot_age_s=60), update(TradeEvent.FILL, coid="manual", side=Side.SELL,
                                                                 filled=5, status=OrderStatus.FILLED))
    assert pf.positions == {"AAPL": D(-5)}


def test_a_fill_the_snapshot_already_reflects_moves_no_position() -> None:
    pf = apply_snapshot(portfolio(), snapshot(positions={"AAPL": 10}, at=NOW))
    pf = apply_trade_update(pf, update(TradeEvent.FILL, filled=10, status=OrderStatus.FILLED,
                                       at=NOW - timedelta(seconds=1)))
    assert pf.positions == {"AAPL": D(10)}


def test_a_snapshot_taken_before_a_fill_but_read_after_it_keeps_the_fill() -> None:
    """make demo's 15:45 flatten: sold 41 of 47, then a snapshot from before that sale brought back 47."""
    event_time = datetime(2026, 2, 12, 20, 44, tzinfo=UTC)  # the paper venue's fills carry event time...
    wall = datetime(2026, 11, 22, 7, 9, tzinfo=UTC)          # ...while the router stamps snapshots by the wall
    pf = apply_snapshot(portfolio(), snapshot(positions={"NVDA": 47}, at=wall, fills_through=event_time))
    pf = replace(pf, open_orders=(OpenOrder("th-sell", "NVDA", Side.SELL, D(41), D(100), False),))
    sold = update(TradeEvent.FILL, coid="th-sell", side=Side.SELL, qty=41, filled=41,
                  fill_qty=41, status=OrderStatus.FILLED, symbol="NVDA", at=event_time + timedelta(seconds=1))
    pf = apply_trade_update(pf, sold)
    assert pf.positions == {"NVDA": D(6)} and pf.open_orders == ()

    stale = snapshot(positions={"NVDA": 47}, at=wall + timedelta(seconds=1), fills_through=event_time)
    pf = apply_snapshot(pf, stale)
    assert pf.positions == {"NVDA": D(6)}, "the sale the snapshot has not seen is applied again on top"
    assert len(pf.unconfirmed_fills) == 1

    caught_up = snapshot(positions={"NVDA": 6}, at=wall + timedelta(seconds=2), fills_through=sold.timestamp)
    pf = apply_snapshot(pf, caught_up)
    assert pf.positions == {"NVDA": D(6)} and pf.unconfirmed_fills == (), "and never twice once it is in one"
    assert apply_trade_update(pf, sold.model_copy(update={"fingerprint": "b" * 64})).positions == {"NVDA": D(6)}


def test_without_a_fill_clock_the_snapshot_time_orders_fills() -> None:
    """A live broker's snapshot has no fills_through: fills after its as_of are the ones it lacks."""
    pf = apply_snapshot(portfolio(), snapshot(positions={"AAPL": 10}, at=NOW - timedelta(seconds=10)))
    pf = apply_trade_update(pf, update(TradeEvent.FILL, filled=5, fill_qty=5, status=OrderStatus.FILLED, at=NOW))
    assert pf.positions == {"AAPL": D(15)}
    pf = apply_snapshot(pf, snapshot(positions={"AAPL": 10}, at=NOW - timedelta(seconds=5)))
    assert pf.positions == {"AAPL": D(15)}
    pf = apply_snapshot(pf, snapshot(positions={"AAPL": 15}, at=NOW + timedelta(seconds=1)))
    assert pf.positions == {"AAPL": D(15)} and pf.unconfirmed_fills == ()


def test_a_snapshot_reconciles_and_an_older_one_is_ignored() -> None:
    pf = portfolio(positions={"AAPL": 99, "MSFT": 5})
    pf = apply_snapshot(pf, snapshot(positions={"AAPL": 10}, equity=101_000, at=NOW))
    assert pf.positions == {"AAPL": D(10)} and pf.equity == 101_000 and pf.buying_power == 150_000
    assert pf.position_marks == {"AAPL": D(100)} and pf.snapshot_as_of == NOW
    assert apply_snapshot(pf, snapshot(positions={}, at=NOW - timedelta(seconds=5))) == pf


def test_the_day_start_and_the_high_water_mark_follow_snapshots() -> None:
    day1 = datetime(2026, 2, 12, 10, tzinfo=NEW_YORK).astimezone(UTC)
    pf = apply_snapshot(PortfolioState("paper-main"), snapshot(equity=100_000, at=day1))
    pf = apply_snapshot(pf, snapshot(equity=103_000, at=day1 + timedelta(hours=1)))
    assert pf.day_start_equity == 100_000 and pf.peak_equity == 103_000
    pf = apply_snapshot(pf, snapshot(equity=102_000, at=day1 + timedelta(days=1)))
    assert pf.day_start_equity == 102_000 and pf.peak_equity == 103_000
    pf = apply_snapshot(pf, snapshot(equity=101_000, last_equity=101_500, at=day1 + timedelta(days=1, hours=1)))
    assert pf.day_start_equity == 101_500


def test_in_a_replay_the_sessions_decisions_start_its_days_and_snapshots_keep_them() -> None:
    """A replay's snapshots are stamped by the wall clock, all on one day, whatever session they follow."""
    wall = datetime(2026, 12, 7, 12, tzinfo=NEW_YORK).astimezone(UTC)
    day1, day2 = date(2026, 2, 12), date(2026, 2, 13)
    pf = start_trading_day(PortfolioState("paper-main"), day1)
    assert (pf.trading_day, pf.day_start_equity) == (day1, None), "no equity known yet"
    pf = apply_snapshot(pf, snapshot(equity=100_000, at=wall), day_from_stamp=False)
    pf = apply_snapshot(pf, snapshot(equity=105_000, at=wall + timedelta(hours=1)), day_from_stamp=False)
    assert (pf.trading_day, pf.day_start_equity, pf.equity) == (day1, 100_000, 105_000)
    assert start_trading_day(pf, day1) == pf and start_trading_day(pf, date(2026, 2, 11)) == pf
    pf = start_trading_day(pf, day2)
    assert (pf.trading_day, pf.day_start_equity) == (day2, 105_000), "the day starts with the equity known"
    pf = apply_snapshot(pf, snapshot(equity=103_000, at=wall + timedelta(hours=2)), day_from_stamp=False)
    assert (pf.trading_day, pf.day_start_equity) == (day2, 105_000)
    assert [latch.reason for latch in detect_latches(pf, limits(), NOW)] == [r.DAILY_LOSS_STOP]


LATCHES = [
    ("no loss", 100_000, 100_000, 100_000, set()),
    ("loss below the stop", 100_000, 100_000, 99_100, set()),
    ("loss exactly at the 1% stop", 100_000, 100_000, 99_000, {r.DAILY_LOSS_STOP}),
    ("drawdown below 5%", 100_000, 110_000, 104_600, set()),
    ("drawdown at 5%", 105_000, 110_000, 104_500, {r.DRAWDOWN_STOP}),
    ("both", 110_000, 110_000, 100_000, {r.DAILY_LOSS_STOP, r.DRAWDOWN_STOP}),
]


@pytest.mark.parametrize(("case", "start", "peak", "equity", "expected"), LATCHES, ids=[c[0] for c in LATCHES])
def test_latches(case: str, start: int, peak: int, equity: int, expected: set[str]) -> None:
    pf = portfolio(equity=equity, day_start_equity=D(start), peak_equity=D(peak))
    assert {latch.reason for latch in detect_latches(pf, limits(), NOW)} == expected


def test_a_latch_is_not_repeated_and_stays_until_reset() -> None:
    pf = portfolio(equity=90_000, day_start_equity=D(100_000), peak_equity=D(100_000))
    pf = with_latches(pf, detect_latches(pf, limits(), NOW))
    assert detect_latches(pf, limits(), NOW) == ()
    recovered = apply_snapshot(pf, snapshot(equity=120_000, at=NOW + timedelta(seconds=1)))
    assert {x.reason for x in recovered.latches} == {r.DAILY_LOSS_STOP, r.DRAWDOWN_STOP}


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 2, 12, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


def test_the_flatten_sweep_emits_one_closing_order_per_position_once_per_day() -> None:
    now = _at(15, 45)
    pf = portfolio(now=now, positions={"AAPL": 10, "MSFT": -4},
                   open_orders=(OpenOrder("th-x", "AAPL", Side.SELL, D(3), D(100), False),))
    mk = market({"AAPL": 100, "MSFT": 50}, now=now)
    result = sweep(pf, ACTIVE, limits(allow_shorts=True), mk, now)
    orders = {o.symbol: o for o in result.flatten_orders}
    assert orders["AAPL"].verdict.side is Side.SELL and orders["AAPL"].verdict.approved_qty == 7
    assert orders["MSFT"].verdict.side is Side.BUY and orders["MSFT"].verdict.approved_qty == 4
    assert orders["AAPL"].decision_id == flatten_decision_id("paper-main", "2026-02-12", "AAPL")
    assert all(o.verdict.reason_codes == (r.SCHEDULED_FLATTEN,) and not o.verdict.adds_exposure
               for o in result.flatten_orders)
    assert len(result.portfolio.open_orders) == 3
    again = sweep(result.portfolio, ACTIVE, limits(), mk, now + timedelta(minutes=1))
    assert again.flatten_orders == ()
    before = sweep(pf, ACTIVE, limits(), mk, _at(15, 44))
    assert before.flatten_orders == () and before.portfolio == pf


def test_the_flatten_sweep_respects_the_kill_switch_and_the_rate_limit() -> None:
    now = _at(15, 46)
    pf = portfolio(now=now, positions={"AAPL": 10, "MSFT": 5, "NVDA": 5, "TSLA": 5})
    mk = market({s: 100 for s in ("AAPL", "MSFT", "NVDA", "TSLA")}, now=now)
    assert sweep(pf, TradingPosture(), limits(), mk, now).flatten_orders == ()
    first = sweep(pf, ACTIVE, limits(), mk, now)
    assert [o.symbol for o in first.flatten_orders] == ["AAPL", "MSFT", "NVDA"]
    later = sweep(first.portfolio, ACTIVE, limits(), mk, now + timedelta(seconds=1))
    assert [o.symbol for o in later.flatten_orders] == ["TSLA"]


def test_a_position_left_at_the_flat_time_latches_once() -> None:
    now = _at(15, 50)
    pf = portfolio(now=now, positions={"AAPL": 10})
    result = sweep(pf, TradingPosture(), limits(), market(now=now), now)
    assert [x.reason for x in result.new_latches] == [r.MUST_BE_FLAT_BREACHED]
    assert sweep(result.portfolio, TradingPosture(), limits(), market(now=now), now).new_latches == ()
    flat = sweep(portfolio(now=now), TradingPosture(), limits(), market(now=now), now)
    assert flat.new_latches == () and flat.portfolio.latches == ()


def command(scope: str, kill: bool, state: TradingState, at: datetime = NOW) -> ControlCommand:
    return ControlCommand(command_id=f"{scope}-{at.isoformat()}", scope=scope, kill_switch=kill, trading_state=state,
                          issued_at=at)


CONTROL = [
    ("nothing issued: kill switch on", None, None, True, TradingState.ACTIVE),
    ("global only", command("global", False, TradingState.ACTIVE), None, False, TradingState.ACTIVE),
    ("account alone cannot lift the default kill switch", None, command("paper-main", False, TradingState.ACTIVE),
     True, TradingState.ACTIVE),
    ("account tighter", command("global", False, TradingState.ACTIVE), command("paper-main", False,
                                                                               TradingState.REDUCING),
     False, TradingState.REDUCING),
    ("global tighter", command("global", False, TradingState.HALTED), command("paper-main", False,
                                                                              TradingState.REDUCING),
     False, TradingState.HALTED),
    ("either kill switch wins", command("global", False, TradingState.ACTIVE), command("paper-main", True,
                                                                                       TradingState.ACTIVE),
     True, TradingState.ACTIVE),
]


@pytest.mark.parametrize(("case", "glob", "acct", "kill", "state"), CONTROL, ids=[c[0] for c in CONTROL])
def test_control_most_restrictive(case: str, glob: ControlCommand | None, acct: ControlCommand | None, kill: bool,
                                  state: TradingState) -> None:
    posture = effective_posture(glob, acct)
    assert (posture.kill_switch, posture.trading_state) == (kill, state)


def test_an_older_control_command_does_not_supersede_a_newer_one() -> None:
    newer = command("global", False, TradingState.ACTIVE, NOW)
    older = command("global", True, TradingState.HALTED, NOW - timedelta(minutes=5))
    assert supersedes(newer, None) and supersedes(newer, older) and not supersedes(older, newer)


def test_latch_in_a_verdict_is_reported_with_the_effective_state() -> None:
    pf = portfolio(latches=(Latch(r.DRAWDOWN_STOP, "x", NOW),))
    verdict = evaluate_order(decision(), pf, ACTIVE, limits(), market(), NOW)
    assert verdict.trading_state is TradingState.REDUCING and r.DRAWDOWN_STOP in verdict.reason_codes
    assert isinstance(verdict.requested_qty, Decimal)
