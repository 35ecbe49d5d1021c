"""A table per check: pass, fail, edge. Each case changes one thing from a decision that passes.

The baseline: buy 10 AAPL at 100 (notional 1,000) on an account with equity 100,000 and buying
power 200,000, at 11:00 New York time, kill switch off, state ACTIVE, default limits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.enums import Side, TradingState
from torghut_contracts.posture import TradingPosture
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.evaluate import Verdict, evaluate_order
from torghut_risk_firewall.domain.ids import client_order_id
from torghut_risk_firewall.domain.state import Latch, Mark, MarketState, OpenOrder
from torghut_risk_firewall.domain.windows import NEW_YORK
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


def at_et(hour: int, minute: int, day: int = 12) -> datetime:
    """A time on Thursday 2026-02-12 (or ``day``) in New York."""
    return datetime(2026, 2, day, hour, minute, tzinfo=NEW_YORK).astimezone(UTC)


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


QUANTITY = [
    ("whole shares", {"dec": decision(qty=10)}, "approve", None),
    ("zero", {"dec": decision(qty=0, validate=False)}, "veto", r.QTY_NON_POSITIVE),
    ("negative", {"dec": decision(qty=-5, validate=False)}, "veto", r.QTY_NON_POSITIVE),
    ("NaN", {"dec": decision(qty="NaN", validate=False)}, "veto", r.QTY_NON_POSITIVE),
    ("fractional when not allowed", {"dec": decision(qty="0.5")}, "veto", r.FRACTIONAL_NOT_ALLOWED),
    ("1.0 is whole", {"dec": decision(qty="1.0")}, "approve", None),
    ("fractional when allowed", {"dec": decision(qty="0.5"), "lim": limits(allow_fractional=True)}, "approve", None),
    ("off the increment", {"dec": decision(qty="0.005"),
                           "lim": limits(allow_fractional=True, fractional_increment=D("0.01"),
                                         min_notional_per_trade=0)},
     "veto", r.QTY_INVALID_INCREMENT),
    ("fractional short", {"dec": decision("sell", "0.5"), "lim": limits(allow_fractional=True, allow_shorts=True)},
     "veto", r.FRACTIONAL_SHORT_NOT_ALLOWED),
    ("fractional close of a long", {"dec": decision("sell", "0.5"), "pf": portfolio(positions=long("0.5")),
                                    "lim": limits(allow_fractional=True)}, "approve", None),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason"), QUANTITY, ids=[c[0] for c in QUANTITY])
def test_quantity(case: str, kw: dict[str, Any], outcome: str, reason: str | None) -> None:
    check(judge(**kw), outcome, reason)


PRICE = [
    ("reference price given", {}, "approve", None),
    ("no reference price", {"dec": decision(price=None)}, "veto", r.REFERENCE_PRICE_MISSING),
    ("NaN reference price", {"dec": decision(price="NaN", validate=False)}, "veto", r.REFERENCE_PRICE_INVALID),
    ("infinite reference price", {"dec": decision(price="Infinity", validate=False)}, "veto",
     r.REFERENCE_PRICE_INVALID),
    ("negative reference price", {"dec": decision(price=-1, validate=False)}, "veto", r.REFERENCE_PRICE_INVALID),
    ("limit price is the reference", {"dec": decision(price=None, limit_price=100)}, "approve", None),
    ("collar: far limit price", {"dec": decision(limit_price=110)}, "veto", r.PRICE_OUTSIDE_COLLAR),
    ("collar: 2% away", {"dec": decision(price=102)}, "veto", r.PRICE_OUTSIDE_COLLAR),
    ("collar: exactly 150 bps", {"dec": decision(price="101.5")}, "approve", None),
    ("collar: just over 150 bps", {"dec": decision(price="101.51")}, "veto", r.PRICE_OUTSIDE_COLLAR),
    ("no signal price", {"mk": market({})}, "veto", r.MARKET_PRICE_UNKNOWN),
    ("stale signal price", {"mk": market(age_s=121)}, "veto", r.MARKET_DATA_STALE),
    ("signal price at the age limit", {"mk": market(age_s=120)}, "approve", None),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason"), PRICE, ids=[c[0] for c in PRICE])
def test_price(case: str, kw: dict[str, Any], outcome: str, reason: str | None) -> None:
    check(judge(**kw), outcome, reason)


NOTIONAL = [
    ("within", {}, "approve", None, 10),
    ("below the minimum", {"dec": decision(qty=1, price="0.5"), "mk": market({"AAPL": "0.5"})}, "veto",
     r.NOTIONAL_BELOW_MIN, None),
    ("at the minimum", {"dec": decision(qty=1, price=1), "mk": market({"AAPL": 1})}, "approve", None, 1),
    ("at the maximum", {"dec": decision(qty=100)}, "approve", None, 100),
    ("above the maximum: clamped", {"dec": decision(qty=150)}, "approve", r.NOTIONAL_EXCEEDS_MAX, 100),
    ("above the maximum, clamp off", {"dec": decision(qty=150), "lim": limits(clamp_enabled=False)}, "veto",
     r.NOTIONAL_EXCEEDS_MAX, None),
    ("clamp below one share", {"dec": decision(qty=2, price=20000), "mk": market({"AAPL": 20000})}, "veto",
     r.QTY_BELOW_MIN_AFTER_CLAMP, None),
    ("% of equity: clamped", {"pf": portfolio(equity=50_000)} | {"dec": decision(qty=60)}, "approve",
     r.ORDER_EXCEEDS_PCT_EQUITY, 50),
    ("% of equity: exactly", {"pf": portfolio(equity=50_000), "dec": decision(qty=50)}, "approve", None, 50),
    ("closing orders are capped too", {"pf": portfolio(positions=long(500)), "dec": decision("sell", 150)},
     "approve", r.NOTIONAL_EXCEEDS_MAX, 100),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason", "approved"), NOTIONAL, ids=[c[0] for c in NOTIONAL])
def test_notional(case: str, kw: dict[str, Any], outcome: str, reason: str | None, approved: Any) -> None:
    check(judge(**kw), outcome, reason, approved)


SYMBOLS = [
    ("no allowlist", {}, "approve", None),
    ("allowlisted", {"lim": limits(allowed_symbols=("AAPL", "MSFT"))}, "approve", None),
    ("not allowlisted", {"lim": limits(allowed_symbols=("MSFT",))}, "veto", r.SYMBOL_NOT_ALLOWED),
    ("denied even when allowlisted", {"lim": limits(allowed_symbols=("AAPL",), denied_symbols=("AAPL",))}, "veto",
     r.SYMBOL_NOT_ALLOWED),
    ("extended hours refused", {"dec": decision(extended_hours=True)}, "veto", r.EXTENDED_HOURS_NOT_ALLOWED),
    ("extended hours allowed", {"dec": decision(extended_hours=True), "lim": limits(allow_extended_hours=True)},
     "approve", None),
    ("another account's decision", {"dec": decision(account="other")}, "veto", r.ACCOUNT_MISMATCH),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason"), SYMBOLS, ids=[c[0] for c in SYMBOLS])
def test_symbol_and_order_kind(case: str, kw: dict[str, Any], outcome: str, reason: str | None) -> None:
    check(judge(**kw), outcome, reason)


SHORTS = [
    ("sell from flat, shorts off", {"dec": decision("sell", 10)}, "veto", r.SHORTS_NOT_ALLOWED, None),
    ("sell from flat, shorts on", {"dec": decision("sell", 10), "lim": limits(allow_shorts=True)}, "approve", None,
     10),
    ("sell a long", {"dec": decision("sell", 10), "pf": portfolio(positions=long(10))}, "approve", None, 10),
    ("sell past the long: clamped to the long", {"dec": decision("sell", 15), "pf": portfolio(positions=long(10))},
     "approve", r.SHORTS_NOT_ALLOWED, 10),
    ("pending sells count", {"dec": decision("sell", 10),
                             "pf": portfolio(positions=long(10), open_orders=(open_sell(10),))}, "veto",
     r.SHORTS_NOT_ALLOWED, None),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason", "approved"), SHORTS, ids=[c[0] for c in SHORTS])
def test_shorts(case: str, kw: dict[str, Any], outcome: str, reason: str | None, approved: Any) -> None:
    check(judge(**kw), outcome, reason, approved)


PARTICIPATION = [
    ("within 10% of volume", {"mk": market(volume=1000), "dec": decision(qty=50)}, "approve", None, 50),
    ("at 10% of volume", {"mk": market(volume=1000), "dec": decision(qty=100)}, "approve", None, 100),
    ("above: clamped", {"mk": market(volume=500), "dec": decision(qty=80)}, "approve", r.PARTICIPATION_EXCEEDS_MAX, 50),
    ("zero volume", {"mk": market(volume=0)}, "veto", r.PARTICIPATION_EXCEEDS_MAX, None),
    ("volume unknown: skipped by default", {}, "approve", None, 10),
    ("volume unknown, required", {"lim": limits(participation_requires_volume=True)}, "veto",
     r.PARTICIPATION_VOLUME_UNKNOWN, None),
    ("check disabled", {"mk": market(volume=0), "lim": limits(max_participation_rate=None)}, "approve", None, 10),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason", "approved"), PARTICIPATION,
                         ids=[c[0] for c in PARTICIPATION])
def test_participation(case: str, kw: dict[str, Any], outcome: str, reason: str | None, approved: Any) -> None:
    check(judge(**kw), outcome, reason, approved)


STALENESS = [
    ("fresh", {"dec": decision(signal_age_s=30)}, "approve", None),
    ("at the budget", {"dec": decision(signal_age_s=60)}, "approve", None),
    ("older than the budget", {"dec": decision(signal_age_s=61)}, "veto", r.DECISION_STALE),
    ("from the future", {"dec": decision(signal_age_s=-10, decided_age_s=-10)}, "veto", r.DECISION_FROM_FUTURE),
    ("within the clock skew", {"dec": decision(signal_age_s=-4, decided_age_s=-4)}, "approve", None),
]


@pytest.mark.parametrize(("case", "kw", "outcome", "reason"), STALENESS, ids=[c[0] for c in STALENESS])
def test_staleness(case: str, kw: dict[str, Any], outcome: str, reason: str | None) -> None:
    check(judge(**kw), outcome, reason)


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
