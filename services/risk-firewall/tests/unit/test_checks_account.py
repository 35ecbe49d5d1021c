"""A table per check: pass, fail, edge, each case changing one thing from a decision that passes (the
baseline: conftest.py). Here the account: exposure (position, gross, net, buying power, equity,
snapshot age, marks), then the order rate and the cooldown."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.state import MarketState
from torghut_risk_firewall.testing import NOW, D, decision, limits, market, portfolio

from .conftest import check, judge, long, open_buy


def _marked(**prices: Any) -> MarketState:
    return market({"AAPL": 100, **prices})


EXPOSURE = [
    ("position within 20% of equity", {"pf": portfolio(positions=long(100)), "dec": decision(qty=100)}, "approve",
     None, 100),
    ("position over: clamped", {"pf": portfolio(positions=long(150)), "dec": decision(qty=100)}, "approve",
     r.POSITION_EXCEEDS_MAX, 50),
    ("position already at the cap", {"pf": portfolio(positions=long(200))}, "veto", r.POSITION_EXCEEDS_MAX, None),
    ("pending buys count", {"pf": portfolio(positions=long(100), open_orders=(open_buy(80),)), "dec": decision(qty=30)},
     "approve", r.POSITION_EXCEEDS_MAX, 20),
    ("short position cap", {"pf": portfolio(positions=long(-150)), "dec": decision("sell", 100),
                            "lim": limits(allow_shorts=True)}, "approve", r.POSITION_EXCEEDS_MAX, 50),
    ("gross headroom exactly", {"pf": portfolio(positions={"MSFT": 900}), "mk": _marked(MSFT=100),
                                "lim": limits(max_position_pct_equity=1, max_net_exposure_pct_equity=1),
                                "dec": decision(qty=100)}, "approve", None, 100),
    ("gross over: clamped", {"pf": portfolio(positions={"MSFT": 970}), "mk": _marked(MSFT=100),
                             "lim": limits(max_position_pct_equity=1, max_net_exposure_pct_equity=1),
                             "dec": decision(qty=50)}, "approve", r.GROSS_EXPOSURE_EXCEEDS_MAX, 30),
    ("gross counts both sides", {"pf": portfolio(positions={"MSFT": -970}), "mk": _marked(MSFT=100),
                                 "lim": limits(max_position_pct_equity=1, max_net_exposure_pct_equity=1),
                                 "dec": decision(qty=50)}, "approve", r.GROSS_EXPOSURE_EXCEEDS_MAX, 30),
    ("net over: clamped", {"pf": portfolio(positions={"MSFT": 480}), "mk": _marked(MSFT=100),
                           "dec": decision(qty=30)}, "approve", r.NET_EXPOSURE_EXCEEDS_MAX, 20),
    ("a buy that lowers net short is not net-capped", {"pf": portfolio(positions={"MSFT": -480}),
                                                       "mk": _marked(MSFT=100), "dec": decision(qty=30)},
     "approve", None, 30),
    ("buying power with reserve", {"pf": portfolio(buying_power=20_000, open_orders=(open_buy(170, "MSFT"),)),
                                   "mk": _marked(MSFT=100), "dec": decision(qty=20)}, "approve",
     r.INSUFFICIENT_BUYING_POWER, 10),
    ("no buying power", {"pf": portfolio(buying_power=0)}, "veto", r.INSUFFICIENT_BUYING_POWER, None),
    ("closing ignores exposure caps", {"pf": portfolio(positions=long(250), buying_power=0),
                                       "dec": decision("sell", 10)},
     "approve", None, 10),
    ("unknown equity", {"pf": portfolio(equity=None)}, "veto", r.EQUITY_UNKNOWN, None),
    ("non-positive equity", {"pf": portfolio(equity=-5)}, "veto", r.EQUITY_UNKNOWN, None),
    ("stale account snapshot", {"pf": portfolio(snapshot_age_s=901)}, "veto", r.ACCOUNT_SNAPSHOT_STALE, None),
    ("stale snapshot still lets a close through", {"pf": portfolio(snapshot_age_s=901, positions=long(10)),
                                                   "dec": decision("sell", 10)}, "approve", None, 10),
    ("a position with no price", {"pf": portfolio(positions={"XYZ": 10})}, "veto", r.EXPOSURE_MARK_UNKNOWN, None),
    ("broker mark prices a position", {"pf": portfolio(positions={"XYZ": 10}, position_marks={"XYZ": D(50)})},
     "approve", None, 10),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason", "approved"), EXPOSURE, ids=[c[0] for c in EXPOSURE])
def test_account_exposure(case: str, kw: dict[str, Any], outcome: str, reason: str | None, approved: Any) -> None:
    check(judge(**kw), outcome, reason, approved)


def _approvals(*ages_s: float) -> tuple[datetime, ...]:
    return tuple(sorted(NOW - timedelta(seconds=a) for a in ages_s))


def _spread(count: int) -> tuple[datetime, ...]:
    """``count`` approvals spread over the last minute, none in the last second."""
    return _approvals(*[1 + i * 0.45 for i in range(count)])


RATE_AND_COOLDOWN = [
    ("no cooldown", {}, "approve", None),
    ("cooldown active", {"pf": portfolio(last_approval_by_symbol={"AAPL": NOW - timedelta(seconds=30)})}, "veto",
     r.COOLDOWN_ACTIVE),
    ("cooldown just over", {"pf": portfolio(last_approval_by_symbol={"AAPL": NOW - timedelta(seconds=60)})},
     "approve", None),
    ("cooldown is per symbol", {"pf": portfolio(last_approval_by_symbol={"MSFT": NOW})}, "approve", None),
    ("cooldown lets a close through", {"pf": portfolio(positions=long(10),
                                                       last_approval_by_symbol={"AAPL": NOW}),
                                       "dec": decision("sell", 10)}, "approve", None),
    ("cooldown off", {"pf": portfolio(last_approval_by_symbol={"AAPL": NOW}), "lim": limits(cooldown_s=0)},
     "approve", None),
    ("2 orders in the last second", {"pf": portfolio(recent_approvals=_approvals(0.2, 0.5))}, "approve", None),
    ("3 orders in the last second", {"pf": portfolio(recent_approvals=_approvals(0.1, 0.2, 0.5))}, "veto",
     r.RATE_LIMIT_PER_SECOND),
    ("an order exactly 1 s ago is out of the second", {"pf": portfolio(recent_approvals=_approvals(1, 0.2, 0.5))},
     "approve", None),
    ("120 orders in the last minute", {"pf": portfolio(recent_approvals=_spread(120))},
     "veto", r.RATE_LIMIT_PER_MINUTE),
    ("119 orders in the last minute", {"pf": portfolio(recent_approvals=_spread(119))},
     "approve", None),
    ("the rate limit applies to closing orders", {"pf": portfolio(positions=long(10),
                                                                  recent_approvals=_approvals(0.1, 0.2, 0.5)),
                                                  "dec": decision("sell", 10)}, "veto", r.RATE_LIMIT_PER_SECOND),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason"), RATE_AND_COOLDOWN, ids=[c[0] for c in RATE_AND_COOLDOWN])
def test_rate_and_cooldown(case: str, kw: dict[str, Any], outcome: str, reason: str | None) -> None:
    check(judge(**kw), outcome, reason)
