"""Property: no approved order, alone or in a sequence, ever takes the account past a cap.

Hypothesis draws limits, an account and a sequence of steps (decisions on a few symbols, fills
and cancels of open orders, time passing). Starting flat, after every step the state is checked
against every cap by an independent calculation in exact arithmetic: per-order notional and % of
equity, worst-case per-symbol position, gross and net exposure (open orders count as if they may
fill), buying power net of the reserve, and the order rate. Marks stay fixed within a run: a
market move can breach a cap, an approval must not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent
from torghut_contracts.models import OrderState, TradeUpdate
from torghut_risk_firewall.domain.evaluate import evaluate_order
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.domain.portfolio import apply_trade_update, reserve
from torghut_risk_firewall.domain.state import PortfolioState
from torghut_risk_firewall.testing import ACTIVE, NOW, decision, market

SYMBOLS = ("AAPL", "MSFT", "NVDA")


def pct(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=3)


limits_strategy = st.builds(
    RiskLimits,
    min_notional_per_trade=st.just(Decimal(1)),
    max_notional_per_trade=st.integers(50, 50_000).map(Decimal),
    max_order_pct_equity=pct("0.01", "1"),
    max_position_pct_equity=pct("0.01", "1"),
    max_gross_exposure_pct_equity=pct("0.05", "2"),
    max_net_exposure_pct_equity=pct("0.01", "1"),
    buying_power_reserve_bps=st.integers(0, 5000).map(Decimal),
    allow_shorts=st.booleans(),
    allow_fractional=st.booleans(),
    cooldown_s=st.sampled_from([Decimal(0), Decimal(2)]),
    max_orders_per_second=st.integers(1, 5),
    max_orders_per_minute=st.integers(5, 30),
    max_participation_rate=st.none(),
)

decision_step = st.tuples(st.just("decide"), st.sampled_from(SYMBOLS), st.sampled_from(["buy", "sell"]),
                          st.decimals(Decimal("0.001"), Decimal("1.5"), places=3), st.floats(0, 2))
"""(decide, symbol, side, size as a fraction of equity, seconds passing)"""
fill_step = st.tuples(st.just("fill"), st.integers(0, 50), st.floats(0.1, 1.0), st.floats(0, 2))
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 50), st.just(0.0), st.floats(0, 2))
steps_strategy = st.lists(st.one_of(decision_step, decision_step, fill_step, cancel_step), min_size=1, max_size=40)


def violations(pf: PortfolioState, lim: RiskLimits, marks: dict[str, Decimal]) -> list[str]:
    """Every cap the state breaks, computed independently of the core, in exact arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 100
        assert pf.equity is not None and pf.buying_power is not None
        equity = pf.equity
        found: list[str] = []
        gross = net_hi = net_lo = reserved = Decimal(0)
        for symbol in SYMBOLS:
            position = pf.positions.get(symbol, Decimal(0))
            buys = sum((o.remaining_qty for o in pf.open_orders if o.symbol == symbol and o.side is Side.BUY),
                       Decimal(0))
            sells = sum((o.remaining_qty for o in pf.open_orders if o.symbol == symbol and o.side is Side.SELL),
                        Decimal(0))
            hi, lo = position + buys, position - sells
            worst = max(abs(hi), abs(lo)) * marks[symbol]
            if worst > lim.max_position_pct_equity * equity:
                found.append(f"position {symbol}: {worst}")
            if lo < 0 and not lim.allow_shorts:
                found.append(f"short {symbol}: {lo}")
            gross += worst
            net_hi += hi * marks[symbol]
            net_lo += lo * marks[symbol]
        reserved = sum((o.remaining_qty * o.price for o in pf.open_orders if o.adds_exposure), Decimal(0))
        if gross > lim.max_gross_exposure_pct_equity * equity:
            found.append(f"gross {gross}")
        net_cap = lim.max_net_exposure_pct_equity * equity
        if net_hi > net_cap or net_lo < -net_cap:
            found.append(f"net {net_lo}..{net_hi}")
        if reserved > pf.buying_power * (1 - lim.buying_power_reserve_bps / 10_000):
            found.append(f"buying power {reserved} of {pf.buying_power}")
        return found


def trade_update(order: Any, qty: Decimal, at: datetime, n: int, event: TradeEvent) -> TradeUpdate:
    terminal = event is TradeEvent.CANCELED or qty >= order.remaining_qty
    status = OrderStatus.CANCELED if event is TradeEvent.CANCELED else (
        OrderStatus.FILLED if terminal else OrderStatus.PARTIALLY_FILLED)
    return TradeUpdate(
        fingerprint=f"{n:064x}", account="paper-main", venue=Adapter.PAPER,
        event=event if event is TradeEvent.CANCELED else (TradeEvent.FILL if terminal else TradeEvent.PARTIAL_FILL),
        timestamp=at,
        order=OrderState(client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
                         qty=order.remaining_qty, status=status),
        fill_qty=None if event is TradeEvent.CANCELED else qty, fill_price=order.price,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lim=limits_strategy, equity=st.integers(1_000, 1_000_000),
       power_ratio=st.decimals(Decimal(0), Decimal(4), places=2),
       prices=st.tuples(*[st.decimals(Decimal(1), Decimal(800), places=2) for _ in SYMBOLS]),
       steps=steps_strategy)
def test_no_approved_order_alone_or_in_sequence_breaks_a_cap(lim: RiskLimits, equity: int, power_ratio: Decimal,
                                                             prices: tuple[Decimal, ...],
                                                             steps: list[tuple[Any, ...]]) -> None:
    marks = dict(zip(SYMBOLS, prices, strict=True))
    now = NOW
    pf = PortfolioState("paper-main", equity=Decimal(equity), buying_power=Decimal(equity) * power_ratio,
                        snapshot_as_of=NOW - timedelta(seconds=1))
    approvals: list[datetime] = []
    for n, step in enumerate(steps):
        kind = step[0]
        now += timedelta(seconds=step[-1])
        mk = market(marks, now=now)
        if kind == "decide":
            _, symbol, action, size, _ = step
            qty = (size * pf.equity / marks[symbol]).quantize(Decimal("0.001"))  # type: ignore[operator]
            if not lim.allow_fractional:
                qty = max(Decimal(1), qty.to_integral_value())
            d = decision(action, qty, symbol, marks[symbol], decision_id=f"d{n}", now=now)
            verdict = evaluate_order(d, pf, ACTIVE, lim, mk, now)
            if verdict.approved:
                q, price = verdict.approved_qty, marks[symbol]
                assert 0 < q <= qty
                assert q * price <= lim.max_notional_per_trade
                assert q * price <= lim.max_order_pct_equity * pf.equity  # type: ignore[operator]
                approvals.append(now)
                assert sum(1 for t in approvals if now - t < timedelta(seconds=1)) <= lim.max_orders_per_second
                assert sum(1 for t in approvals if now - t < timedelta(seconds=60)) <= lim.max_orders_per_minute
            pf = reserve(pf, verdict, symbol)
        elif pf.open_orders:
            _, index, fraction, _ = step
            order = pf.open_orders[index % len(pf.open_orders)]
            if kind == "fill":
                # A venue fills in its increment (1e-9 shares at most): a fraction of a fraction of a remainder
                # would otherwise grow decimals past what a trade update may carry.
                qty = (order.remaining_qty * Decimal(str(round(fraction, 2)))).quantize(Decimal("1e-9"), ROUND_DOWN)
                qty = qty.to_integral_value() if qty >= 1 and order.remaining_qty % 1 == 0 else qty
                if qty <= 0:
                    continue
                pf = apply_trade_update(pf, trade_update(order, min(qty, order.remaining_qty), now, n,
                                                         TradeEvent.FILL))
            else:
                pf = apply_trade_update(pf, trade_update(order, Decimal(0), now, n, TradeEvent.CANCELED))
        assert violations(pf, lim, marks) == [], (step, pf)


@settings(max_examples=100, deadline=None)
@given(lim=limits_strategy, qty=st.integers(1, 10_000), held=st.integers(-500, 500),
       action=st.sampled_from(["buy", "sell"]))
def test_an_approval_never_exceeds_the_request_and_reduce_only_orders_never_cross_zero(
        lim: RiskLimits, qty: int, held: int, action: str) -> None:
    lim = RiskLimits(**{**lim.model_dump(), "allow_shorts": True})
    pf = replace(PortfolioState("paper-main", equity=Decimal(10**6), buying_power=Decimal(10**6),
                                snapshot_as_of=NOW), positions={"AAPL": Decimal(held)} if held else {})
    verdict = evaluate_order(decision(action, qty), pf, ACTIVE, lim, market(), NOW)
    assert verdict.approved_qty <= qty
    if verdict.approved and not verdict.adds_exposure:
        after = Decimal(held) + (verdict.approved_qty if action == "buy" else -verdict.approved_qty)
        assert abs(after) <= abs(held) and after * held >= 0
