"""Position sizing: whole shares under every cap; sells only reduce a long; anything ambiguous sizes zero."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.decision_engine import PortfolioContext, PortfolioPosition, RiskPolicyContext
from torghut_contracts.enums import Side
from torghut_decision_engine.domain.sizing import size_position

D = Decimal


def portfolio(equity: str = "100000", buying_power: str = "250000", qty: str | None = "40",
              value: str = "6400", symbol: str = "NVDA") -> PortfolioContext:
    position = PortfolioPosition(symbol=symbol, qty=D(qty), market_value=D(value)) if qty is not None else None
    return PortfolioContext(equity=D(equity), buying_power=D(buying_power), current_exposure=D(0), position=position)


def policy(max_notional: str = "7000", pct: str = "0.08") -> RiskPolicyContext:
    return RiskPolicyContext(max_notional_per_trade=D(max_notional), max_position_pct_equity=D(pct))


CASES = [
    # id, direction, price, portfolio, policy, (max_qty, binding, reasons)
    ("seed example: position cap binds (8000-6400=1600 -> 10 shares)", Side.BUY, "160", portfolio(), policy(),
     ("10", "position_limit", ())),
    ("flat: per-trade notional binds (7000/160 -> 43)", Side.BUY, "160", portfolio(qty=None), policy(),
     ("43", "max_notional_per_trade", ())),
    ("buying power binds", Side.BUY, "100", portfolio(qty=None, buying_power="550"), policy(),
     ("5", "buying_power", ())),
    ("position limit reached", Side.BUY, "160", portfolio(value="8000"), policy(),
     ("0", None, ("position_limit_reached",))),
    ("over the position limit", Side.BUY, "160", portfolio(value="9000"), policy(),
     ("0", None, ("position_limit_reached",))),
    ("cap below one share", Side.BUY, "2000", portfolio(), policy(), ("0", None, ("size_below_one_share",))),
    ("no buying power", Side.BUY, "160", portfolio(qty=None, buying_power="0"), policy(),
     ("0", None, ("no_buying_power",))),
    ("zero notional cap", Side.BUY, "160", portfolio(qty=None), policy(max_notional="0"),
     ("0", None, ("zero_notional_cap",))),
    ("negative equity", Side.BUY, "160", portfolio(equity="-5"), policy(), ("0", None, ("non_positive_equity",))),
    ("short position: buying covers first", Side.BUY, "100", portfolio(qty="-10", value="-1000"), policy(),
     ("70", "max_notional_per_trade", ())),
    ("sell: whole long position when notional allows", Side.SELL, "160", portfolio(), policy(),
     ("40", "position_qty", ())),
    ("sell: notional cap binds", Side.SELL, "160", portfolio(qty="100", value="16000"), policy(),
     ("43", "max_notional_per_trade", ())),
    ("sell: fractional long floors", Side.SELL, "160", portfolio(qty="2.7", value="432"), policy(),
     ("2", "position_qty", ())),
    ("sell: no position, never a short", Side.SELL, "160", portfolio(qty=None), policy(),
     ("0", None, ("no_long_position_to_sell",))),
    ("sell: short position", Side.SELL, "160", portfolio(qty="-5", value="-800"), policy(),
     ("0", None, ("no_long_position_to_sell",))),
    ("position of another symbol is ambiguous", Side.BUY, "160", portfolio(symbol="AAPL"), policy(),
     ("0", None, ("position_symbol_mismatch",))),
    ("no direction", None, "160", portfolio(), policy(), ("0", None, ("missing_direction",))),
    ("no price", Side.BUY, None, portfolio(), policy(), ("0", None, ("missing_price",))),
]


@pytest.mark.parametrize(("direction", "price", "book", "limits", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_sizing_table(direction: Side | None, price: str | None, book: PortfolioContext, limits: RiskPolicyContext,
                      expected: tuple[str, str | None, tuple[str, ...]]) -> None:
    result = size_position("NVDA", direction, D(price) if price else None, book, limits)
    assert (result.max_qty, result.binding_constraint, result.reasons) == (D(expected[0]), expected[1], expected[2])
    if price:
        assert result.max_notional == result.max_qty * D(price)


money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)


@given(equity=money, buying_power=money, value=money, max_notional=money,
       pct=st.decimals(min_value=0, max_value=1, places=3), price=st.decimals(min_value="0.01", max_value=5000,
                                                                            places=2))
def test_a_buy_never_breaches_any_cap(equity: Decimal, buying_power: Decimal, value: Decimal,
                                      max_notional: Decimal, pct: Decimal, price: Decimal) -> None:
    book = PortfolioContext(equity=equity, buying_power=buying_power, current_exposure=D(0),
                            position=PortfolioPosition(symbol="NVDA", qty=D(1), market_value=value))
    result = size_position("NVDA", Side.BUY, price, book, RiskPolicyContext(
        max_notional_per_trade=max_notional, max_position_pct_equity=pct))
    assert result.max_qty >= 0 and result.max_qty == result.max_qty.to_integral_value()
    notional = result.max_qty * price
    assert notional <= max_notional
    assert notional <= buying_power
    assert value + notional <= pct * equity or result.max_qty == 0
