"""The paper venue's fill model: slippage, rounding, partial fills, limit crossing, TIF, cash checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torghut_contracts.enums import OrderStatus, OrderType, Side, TimeInForce, TradeEvent
from torghut_execution_router.domain import paper
from torghut_execution_router.domain.orders import OrderRequest

T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)
MODEL = paper.FillModel(slippage_bps=D(10), partial_fill_above_qty=D(100), chunk_qty=D(40),
                        max_price_age=timedelta(seconds=60))
RICH = paper.PaperAccount(cash=D(1_000_000))


def request(qty: str = "10", side: Side = Side.BUY, order_type: OrderType = OrderType.MARKET,
            limit: str | None = None, tif: TimeInForce = TimeInForce.DAY, coid: str = "c1") -> OrderRequest:
    return OrderRequest(client_order_id=coid, symbol="NVDA", side=side, qty=D(qty), order_type=order_type,
                        limit_price=D(limit) if limit else None, time_in_force=tif, extended_hours=False,
                        reference_price=D(100), approved_at=T0)


def quote(price: str, seconds: int = 0, seq: int = 1) -> paper.Quote:
    return paper.Quote("NVDA", D(price), T0 + timedelta(seconds=seconds), seq)


def submit(req: OrderRequest, q: paper.Quote | None, account: paper.PaperAccount = RICH,
           open_orders: list[paper.PaperOrder] | None = None) -> paper.PaperStep:
    return paper.submit(req, venue_order_id="v-" + req.client_order_id, account=account,
                        open_orders=open_orders or [], quote=q, model=MODEL)


@pytest.mark.parametrize(("side", "price", "bps", "expected"), [
    (Side.BUY, "100", "10", "100.10"),
    (Side.SELL, "100", "10", "99.90"),
    (Side.BUY, "100.005", "0", "100.01"),   # buys round up (adverse)
    (Side.SELL, "100.009", "0", "100.00"),  # sells round down (adverse)
    (Side.BUY, "0.5", "10", "0.5005"),      # sub-dollar tick is $0.0001
    (Side.SELL, "0.5", "10", "0.4995"),
    (Side.BUY, "12.34", "25", "12.38"),
])
def test_slippage_is_side_aware_and_rounds_against_the_trader(side: Side, price: str, bps: str,
                                                               expected: str) -> None:
    assert paper.slipped_price(side, D(price), D(bps)) == D(expected)


def test_a_market_order_with_a_fresh_price_fills_at_once_at_the_slipped_price() -> None:
    step = submit(request("10"), quote("100", seconds=-5))
    assert [e.event for e in step.events] == [TradeEvent.NEW, TradeEvent.FILL]
    fill = step.events[-1]
    assert fill.fill_qty == D(10) and fill.fill_price == D("100.10")
    assert fill.order.status is OrderStatus.FILLED and fill.order.filled_avg_price == D("100.10")
    assert fill.position_qty == D(10)
    assert step.account.cash == D(1_000_000) - D("1001.00")
    assert [e.venue_seq for e in step.events] == [1, 2]


@pytest.mark.parametrize(("q", "why"), [(None, "no price yet"), ("stale", "price older than approval - max age")])
def test_a_market_order_without_a_fresh_price_rests_until_one_arrives(q: str | None, why: str) -> None:
    the_quote = quote("100", seconds=-61) if q == "stale" else None
    step = submit(request("10"), the_quote)
    assert [e.event for e in step.events] == [TradeEvent.NEW], why
    resting = step.orders[0]
    later = paper.on_quote(quote("101", seconds=3, seq=2), account=step.account, open_orders=[resting], model=MODEL)
    assert [e.event for e in later.events] == [TradeEvent.FILL]
    assert later.events[0].fill_price == D("101.11")


@pytest.mark.parametrize(("side", "limit", "prices", "fills_at"), [
    (Side.BUY, "99", ["100", "99.50", "98.90"], [None, None, "99.00"]),   # crossed; slipped 99.0 capped
    (Side.BUY, "99", ["98"], ["98.10"]),                                   # slipped price below the limit
    (Side.SELL, "101", ["100", "101.20"], [None, "101.09"]),
    (Side.SELL, "101", ["101"], ["101.00"]),                               # the limit caps the slippage
])
def test_a_resting_limit_order_fills_when_a_later_price_crosses_it(side: Side, limit: str, prices: list[str],
                                                                    fills_at: list[str | None]) -> None:
    account = paper.PaperAccount(cash=D(1_000_000), positions={
        "NVDA": paper.PaperPosition("NVDA", D(100), D(90))})
    step = submit(request("10", side=side, order_type=OrderType.LIMIT, limit=limit), None, account=account)
    order, account = step.orders[0], step.account
    for i, (price, expected) in enumerate(zip(prices, fills_at, strict=True)):
        tick = paper.on_quote(quote(price, seconds=i + 1, seq=i + 2), account=account, open_orders=[order],
                              model=MODEL)
        if expected is None:
            assert tick.events == []
            continue
        assert tick.events[0].fill_price == D(expected)
        order, account = tick.orders[0], tick.account
    assert order.status is OrderStatus.FILLED


def test_a_marketable_limit_fills_at_submission() -> None:
    step = submit(request("10", order_type=OrderType.LIMIT, limit="105"), quote("100"))
    assert [e.event for e in step.events] == [TradeEvent.NEW, TradeEvent.FILL]


def test_a_large_order_fills_in_chunks_one_per_price_then_fills() -> None:
    step = submit(request("130"), quote("100"))
    assert [(e.event, e.fill_qty) for e in step.events] == [(TradeEvent.NEW, None), (TradeEvent.PARTIAL_FILL, D(40))]
    order, account = step.orders[0], step.account
    seen = []
    for i in range(1, 5):
        tick = paper.on_quote(quote("100", seconds=i, seq=i + 1), account=account, open_orders=[order], model=MODEL)
        if not tick.orders:
            break
        order, account = tick.orders[0], tick.account
        seen += [(e.event, e.fill_qty, e.order.filled_qty) for e in tick.events]
    assert seen == [(TradeEvent.PARTIAL_FILL, D(40), D(80)), (TradeEvent.PARTIAL_FILL, D(40), D(120)),
                    (TradeEvent.FILL, D(10), D(130))]
    assert order.status is OrderStatus.FILLED and account.position_qty("NVDA") == D(130)


def test_ioc_takes_one_chunk_and_cancels_the_rest_fok_is_all_or_nothing() -> None:
    ioc = submit(request("130", tif=TimeInForce.IOC), quote("100"))
    assert [e.event for e in ioc.events] == [TradeEvent.NEW, TradeEvent.PARTIAL_FILL, TradeEvent.CANCELED]
    assert ioc.orders[0].filled_qty == D(40)
    fok_big = submit(request("130", tif=TimeInForce.FOK), quote("100"))
    assert [e.event for e in fok_big.events] == [TradeEvent.NEW, TradeEvent.CANCELED] and not fok_big.fills
    fok_small = submit(request("50", tif=TimeInForce.FOK), quote("100"))
    assert [e.event for e in fok_small.events] == [TradeEvent.NEW, TradeEvent.FILL]
    fok_no_price = submit(request("50", tif=TimeInForce.FOK), None)
    assert fok_no_price.orders[0].status is OrderStatus.CANCELED


@pytest.mark.parametrize(("req", "account", "open_orders", "reason"), [
    (request("10"), paper.PaperAccount(cash=D(1000)), [], "insufficient_buying_power"),
    (request("5", side=Side.SELL), paper.PaperAccount(cash=D(0)), [], "insufficient_qty_available"),
    (request("1", tif=TimeInForce.OPG), RICH, [], "unsupported_time_in_force:opg"),
])
def test_refusals(req: OrderRequest, account: paper.PaperAccount, open_orders: list[paper.PaperOrder],
                  reason: str) -> None:
    step = submit(req, quote("100"), account=account, open_orders=open_orders)
    assert step.rejection == reason
    assert [e.event for e in step.events] == [TradeEvent.REJECTED]
    assert step.orders[0].status is OrderStatus.REJECTED and step.account == account


def test_open_buys_reserve_buying_power_and_open_sells_reserve_shares() -> None:
    account = paper.PaperAccount(cash=D(2000), positions={"NVDA": paper.PaperPosition("NVDA", D(10), D(90))})
    first = submit(request("10", order_type=OrderType.LIMIT, limit="99", coid="a"), None, account=account)
    assert paper.buying_power(account, first.orders) == D(2000) - D(990)
    second = submit(request("11", order_type=OrderType.LIMIT, limit="99", coid="b"), None, account=account,
                    open_orders=first.orders)
    assert second.rejection == "insufficient_buying_power"
    sell = submit(request("6", side=Side.SELL, order_type=OrderType.LIMIT, limit="200", coid="s1"), None,
                  account=account)
    again = submit(request("5", side=Side.SELL, coid="s2"), None, account=account, open_orders=sell.orders)
    assert again.rejection == "insufficient_qty_available"


def test_selling_realises_pnl_and_flat_removes_the_position() -> None:
    account = paper.PaperAccount(cash=D(0), positions={"NVDA": paper.PaperPosition("NVDA", D(10), D(90))})
    step = submit(request("10", side=Side.SELL), quote("100"), account=account)
    assert step.account.cash == D("999.00") and step.account.realized_pl == D("99.00")
    assert "NVDA" not in step.account.positions


def test_a_day_order_expires_on_the_first_price_of_a_later_new_york_date() -> None:
    step = submit(request("10", order_type=OrderType.LIMIT, limit="50"), None)
    next_day = paper.Quote("NVDA", D(100), T0 + timedelta(days=1), 9)
    tick = paper.on_quote(next_day, account=step.account, open_orders=step.orders, model=MODEL)
    assert [e.event for e in tick.events] == [TradeEvent.EXPIRED]
    gtc = submit(request("10", order_type=OrderType.LIMIT, limit="50", tif=TimeInForce.GTC), None)
    assert paper.on_quote(next_day, account=gtc.account, open_orders=gtc.orders, model=MODEL).events == []


def test_cancel_only_touches_open_orders() -> None:
    step = submit(request("10", order_type=OrderType.LIMIT, limit="50"), None)
    cancelled = paper.cancel(step.orders[0], account=step.account, at=T0 + timedelta(seconds=1), reason="kill")
    assert [e.event for e in cancelled.events] == [TradeEvent.CANCELED]
    assert paper.cancel(cancelled.orders[0], account=step.account, at=T0, reason="kill").events == []


def test_account_value_marks_positions_at_the_latest_price() -> None:
    account = paper.PaperAccount(cash=D(1000), positions={"NVDA": paper.PaperPosition("NVDA", D(10), D(90))})
    value = paper.value_account(account, {"NVDA": D(100)}, [])
    assert value.equity == D(2000) and value.positions[0].unrealized_pl == D(100)


@settings(max_examples=40, deadline=None)
@given(qty=st.integers(min_value=1, max_value=1000), price=st.decimals(min_value=D("0.5"), max_value=D(2000),
                                                                      places=2))
def test_chunked_fills_always_sum_to_the_order_and_conserve_cash(qty: int, price: D) -> None:
    account = paper.PaperAccount(cash=D(10) ** 9)
    step = submit(request(str(qty)), paper.Quote("NVDA", price, T0, 1), account=account)
    order, account, fills = step.orders[0], step.account, list(step.fills)
    seq = 2
    while order.is_open:
        tick = paper.on_quote(paper.Quote("NVDA", price, T0 + timedelta(seconds=seq), seq), account=account,
                              open_orders=[order], model=MODEL)
        order, account = tick.orders[0], tick.account
        fills += tick.fills
        seq += 1
    assert sum(f.qty for f in fills) == D(qty)
    assert account.cash == D(10) ** 9 - sum(f.qty * f.price for f in fills)
    assert all(f.qty <= MODEL.chunk_qty for f in fills) or qty <= MODEL.partial_fill_above_qty


def test_fill_times_strictly_increase_per_account() -> None:
    """A snapshot can then say exactly which fills it holds (``fills_through`` = the last fill's time)."""
    first = submit(request(coid="a"), quote("100"))
    fill_a = first.events[-1]
    assert first.account.last_fill_at == fill_a.timestamp == T0

    same_instant = submit(request(coid="b"), quote("100"), account=first.account)
    assert same_instant.events[-1].timestamp == T0 + timedelta(microseconds=1)
    assert same_instant.fills[0].at == same_instant.account.last_fill_at == same_instant.events[-1].timestamp

    earlier = paper.submit(request(coid="c"), venue_order_id="v-c", account=same_instant.account, open_orders=[],
                           quote=paper.Quote("NVDA", D(100), T0 - timedelta(seconds=30), 1), model=MODEL)
    assert earlier.events[-1].timestamp == T0 + timedelta(microseconds=2), "never back in time either"

    resting = [submit(request(coid=c, order_type=OrderType.LIMIT, limit="99"), None).orders[0] for c in ("d", "e")]
    step = paper.on_quote(quote("98", seconds=5), account=earlier.account, open_orders=resting, model=MODEL)
    times = [e.timestamp for e in step.events]
    assert times == [T0 + timedelta(seconds=5), T0 + timedelta(seconds=5, microseconds=1)]
