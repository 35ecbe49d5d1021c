"""The verdict as a whole (the baseline: conftest.py): the baseline passes with a deterministic client
order id, a hold is a veto, every failing check is collected, a clamp only ever lowers the quantity
and names every binding cap, the same inputs give the same verdict."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from torghut_contracts.posture import TradingPosture
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.ids import client_order_id
from torghut_risk_firewall.domain.state import Mark, MarketState
from torghut_risk_firewall.testing import NOW, D, decision, limits, portfolio

from .conftest import judge, long


def test_the_baseline_passes_and_carries_a_deterministic_client_order_id() -> None:
    verdict = judge()
    assert verdict.approved and verdict.reason_codes == () and verdict.clamp is None
    assert verdict.approved_qty == 10 and verdict.adds_exposure
    assert verdict.client_order_id == client_order_id("paper-main", "dec-1") == judge().client_order_id
    assert verdict.client_order_id.startswith("th-") and len(verdict.client_order_id) <= 48
    assert client_order_id("paper-main", "dec-2") != verdict.client_order_id
    assert client_order_id("other", "dec-1") != verdict.client_order_id


def test_a_hold_is_recorded_as_a_veto() -> None:
    verdict = judge(dec=decision("hold"))
    assert not verdict.approved and verdict.reason_codes == (r.DECISION_HOLD,) and verdict.side is None


def test_every_failing_check_is_collected_not_just_the_first() -> None:
    verdict = judge(control=TradingPosture(), dec=decision(price=110, signal_age_s=300),
                    lim=limits(allowed_symbols=("MSFT",)), pf=portfolio(positions=long(200)),
                    mk=MarketState({"AAPL": Mark(D(100), NOW - timedelta(seconds=500))}))
    assert set(verdict.reason_codes) >= {r.KILL_SWITCH_ENABLED, r.DECISION_STALE, r.PRICE_OUTSIDE_COLLAR,
                                         r.SYMBOL_NOT_ALLOWED, r.MARKET_DATA_STALE, r.POSITION_EXCEEDS_MAX}
    assert len(verdict.reason_codes) == len(set(verdict.reason_codes))


def test_a_clamp_only_ever_lowers_the_quantity_and_names_every_binding_cap() -> None:
    verdict = judge(pf=portfolio(equity=50_000, positions=long(90)), dec=decision(qty=300))
    assert verdict.approved and verdict.clamp is not None
    assert verdict.clamp.requested_qty == 300 and verdict.approved_qty == verdict.clamp.approved_qty == 10
    assert set(verdict.clamp.reason_codes) == {r.NOTIONAL_EXCEEDS_MAX, r.ORDER_EXCEEDS_PCT_EQUITY,
                                               r.POSITION_EXCEEDS_MAX, r.NET_EXPOSURE_EXCEEDS_MAX}
    assert verdict.approved_qty <= verdict.requested_qty


def test_the_same_inputs_give_the_same_verdict() -> None:
    assert judge(dec=decision(qty=150)) == judge(dec=decision(qty=150))
    assert isinstance(judge().approved_qty, Decimal)
