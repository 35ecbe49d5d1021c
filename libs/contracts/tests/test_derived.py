"""Values derived from the contracts and defined once: a signal's mark price, an action's order side,
the fill events. Derived means off the wire: no schema changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.enums import FILL_EVENTS, Action, Side, TradeEvent
from torghut_contracts.models import TaSignal

BASE = {"symbol": "AAPL", "event_ts": "2026-02-12T15:31:00Z", "seq": 1}


def signal(**fields: Any) -> TaSignal:
    return TaSignal.model_validate({**BASE, **{k: str(v) for k, v in fields.items()}})


@pytest.mark.parametrize(("fields", "mid", "mark"), [
    ({}, None, None),                                                      # nothing to mark at
    ({"price": "101.5"}, None, Decimal("101.5")),                          # a price, no quote
    ({"bid": "100", "ask": "101"}, Decimal("100.5"), Decimal("100.5")),    # no price: the midpoint
    ({"price": "99", "bid": "100", "ask": "101"}, Decimal("100.5"), Decimal("99")),  # the traded price first
    ({"bid": "100"}, None, None),                                          # one-sided quote: no midpoint
    ({"ask": "101", "price": "100.9"}, None, Decimal("100.9")),
    ({"bid": "101", "ask": "100"}, Decimal("100.5"), Decimal("100.5")),    # crossed: still arithmetic
])
def test_quote_mid_and_mark_price(fields: dict[str, str], mid: Decimal | None, mark: Decimal | None) -> None:
    s = signal(**fields)
    assert s.quote_mid == mid
    assert s.mark_price == mark


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)


@given(st.none() | prices, st.none() | prices, st.none() | prices)
def test_mark_price_is_the_price_else_the_midpoint(price: Decimal | None, bid: Decimal | None,
                                                   ask: Decimal | None) -> None:
    s = signal(**{k: v for k, v in {"price": price, "bid": bid, "ask": ask}.items() if v is not None})
    if price is not None:
        assert s.mark_price == price
    elif bid is not None and ask is not None:
        assert s.mark_price == (bid + ask) / 2 and min(bid, ask) <= s.mark_price <= max(bid, ask)
    else:
        assert s.mark_price is None


def test_derived_prices_stay_off_the_wire() -> None:
    s = signal(price="99", bid="100", ask="101")
    assert "mark_price" not in s.model_dump() and "quote_mid" not in s.model_dump_json()
    properties = TaSignal.model_json_schema()["properties"]
    assert "mark_price" not in properties and "quote_mid" not in properties


@pytest.mark.parametrize(("action", "side"), [(Action.BUY, Side.BUY), (Action.SELL, Side.SELL), (Action.HOLD, None)])
def test_an_action_trades_on_its_side(action: Action, side: Side | None) -> None:
    assert action.side is side


def test_fill_events_are_the_two_that_move_a_position() -> None:
    assert FILL_EVENTS == {TradeEvent.FILL, TradeEvent.PARTIAL_FILL}
