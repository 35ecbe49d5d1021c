"""A table per check: pass, fail, edge, each case changing one thing from a decision that passes (the
baseline: conftest.py). Here the order itself: quantity, price, notional, symbol and order kind,
shorts, participation, staleness."""

from __future__ import annotations

from typing import Any

import pytest
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.testing import D, decision, limits, market, portfolio

from .conftest import check, judge, long, open_sell

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
