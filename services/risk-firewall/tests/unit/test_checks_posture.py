"""A table per check: pass, fail, edge, each case changing one thing from a decision that passes (the
baseline: conftest.py). Here the operator's posture (kill switch, halted, reducing, a latched stop) and
the trading windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from torghut_contracts.enums import TradingState
from torghut_contracts.posture import TradingPosture
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.state import Latch
from torghut_risk_firewall.domain.windows import NEW_YORK
from torghut_risk_firewall.testing import ACTIVE, NOW, decision, limits, market, portfolio

from .conftest import check, judge, long, open_sell


def at_et(hour: int, minute: int, day: int = 12) -> datetime:
    """A time on Thursday 2026-02-12 (or ``day``) in New York."""
    return datetime(2026, 2, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


POSTURE = [
    ("kill switch off", ACTIVE, {}, "approve", None),
    ("kill switch on (the default)", TradingPosture(), {}, "veto", r.KILL_SWITCH_ENABLED),
    ("kill switch blocks closing too", TradingPosture(),
     {"dec": decision("sell", 5), "pf": portfolio(positions=long(10))}, "veto", r.KILL_SWITCH_ENABLED),
    ("halted", TradingPosture(False, TradingState.HALTED), {}, "veto", r.TRADING_HALTED),
    ("halted blocks closing too", TradingPosture(False, TradingState.HALTED),
     {"dec": decision("sell", 5), "pf": portfolio(positions=long(10))}, "veto", r.TRADING_HALTED),
    ("reducing denies opening from flat", TradingPosture(False, TradingState.REDUCING), {}, "veto",
     r.TRADING_STATE_REDUCING),
    ("reducing denies adding to a long", TradingPosture(False, TradingState.REDUCING),
     {"pf": portfolio(positions=long(10))}, "veto", r.TRADING_STATE_REDUCING),
    ("reducing allows closing", TradingPosture(False, TradingState.REDUCING),
     {"dec": decision("sell", 5), "pf": portfolio(positions=long(10))}, "approve", None),
    ("reducing clamps a flip to the close", TradingPosture(False, TradingState.REDUCING),
     {"dec": decision("sell", 15), "pf": portfolio(positions=long(10)), "lim": limits(allow_shorts=True)},
     "approve", r.TRADING_STATE_REDUCING),
    ("reducing counts pending sells", TradingPosture(False, TradingState.REDUCING),
     {"dec": decision("sell", 5), "pf": portfolio(positions=long(10), open_orders=(open_sell(10),))}, "veto",
     r.TRADING_STATE_REDUCING),
]


@pytest.mark.parametrize(("case", "control", "kw", "outcome", "reason"), POSTURE, ids=[c[0] for c in POSTURE])
def test_operator_posture(case: str, control: TradingPosture, kw: dict[str, Any], outcome: str,
                          reason: str | None) -> None:
    check(judge(control=control, **kw), outcome, reason)


def test_a_latched_stop_makes_the_account_reducing() -> None:
    latched = portfolio(latches=(Latch(r.DAILY_LOSS_STOP, "loss 0.012", NOW),))
    verdict = judge(pf=latched)
    assert not verdict.approved and verdict.trading_state is TradingState.REDUCING
    assert {r.TRADING_STATE_REDUCING, r.DAILY_LOSS_STOP} <= set(verdict.reason_codes)
    closing = judge(pf=portfolio(positions=long(10), latches=latched.latches), dec=decision("sell", 10))
    assert closing.approved and not closing.adds_exposure


WINDOWS = [
    ("11:00", at_et(11, 0), "buy", "approve", None),
    ("09:30 open", at_et(9, 30), "buy", "approve", None),
    ("09:29 before the open", at_et(9, 29), "buy", "veto", r.MARKET_CLOSED),
    ("15:29", at_et(15, 29), "buy", "approve", None),
    ("15:30 cutoff: no new exposure", at_et(15, 30), "buy", "veto", r.NEW_EXPOSURE_CUTOFF),
    ("15:30 cutoff: closing allowed", at_et(15, 30), "sell", "approve", None),
    ("15:45 flatten window", at_et(15, 45), "buy", "veto", r.FLATTEN_WINDOW),
    ("15:45 flatten window: closing allowed", at_et(15, 45), "sell", "approve", None),
    ("15:50 must be flat", at_et(15, 50), "buy", "veto", r.MUST_BE_FLAT_WINDOW),
    ("16:00 closed", at_et(16, 0), "sell", "veto", r.MARKET_CLOSED),
    ("saturday", at_et(11, 0, day=14), "buy", "veto", r.MARKET_CLOSED),
]


@pytest.mark.parametrize(("case", "now", "action", "outcome", "reason"), WINDOWS, ids=[c[0] for c in WINDOWS])
def test_trading_windows(case: str, now: datetime, action: str, outcome: str, reason: str | None) -> None:
    pf = portfolio(now=now, positions=long(10))
    check(judge(dec=decision(action, 10, now=now), pf=pf, mk=market(now=now), now=now), outcome, reason)


def test_windows_can_be_switched_off_for_demos() -> None:
    night = at_et(22, 0)
    verdict = judge(dec=decision(now=night), pf=portfolio(now=night), mk=market(now=night), now=night,
                    lim=limits(enforce_trading_windows=False))
    assert verdict.approved
