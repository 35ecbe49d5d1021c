"""Judging one order against the checks, for the tables in test_checks_*.py.

The baseline: buy 10 AAPL at 100 (notional 1,000) on an account with equity 100,000 and buying
power 200,000, at 11:00 New York time, kill switch off, state ACTIVE, default limits. Each case
changes one thing from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from torghut_contracts.enums import Side
from torghut_contracts.posture import TradingPosture
from torghut_risk_firewall.domain.evaluate import Verdict, evaluate_order
from torghut_risk_firewall.domain.state import OpenOrder
from torghut_risk_firewall.testing import ACTIVE, NOW, D, decision, limits, market, portfolio


def judge(*, dec: Any = None, pf: Any = None, control: TradingPosture = ACTIVE, lim: Any = None, mk: Any = None,
          now: datetime = NOW) -> Verdict:
    return evaluate_order(dec or decision(now=now), pf or portfolio(now=now), control, lim or limits(),
                          mk or market(now=now), now)


def check(verdict: Verdict, outcome: str, reason: str | None, approved: Any = None) -> None:
    if outcome == "approve":
        assert verdict.approved, verdict.reason_codes
        if reason is not None:
            assert verdict.clamp is not None and reason in verdict.clamp.reason_codes, verdict
    else:
        assert not verdict.approved
        assert reason in verdict.reason_codes, verdict.reason_codes
        assert verdict.approved_qty == 0
    if approved is not None:
        assert verdict.approved_qty == D(approved)


def long(qty: Any, symbol: str = "AAPL") -> dict[str, Any]:
    return {symbol: qty}


def open_buy(qty: Any, symbol: str = "AAPL", price: Any = 100, coid: str = "o1") -> OpenOrder:
    return OpenOrder(coid, symbol, Side.BUY, D(qty), D(price), True)


def open_sell(qty: Any, symbol: str = "AAPL", price: Any = 100, coid: str = "o2", adds: bool = False) -> OpenOrder:
    return OpenOrder(coid, symbol, Side.SELL, D(qty), D(price), adds)
