"""The skill bundle: every domain always reports, missing data is an explicit flag, freshness and quality."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.decision_engine import DecisionRequest, ExecutionContext
from torghut_contracts.enums import Adapter
from torghut_decision_engine.domain.config import RuleConfig
from torghut_decision_engine.domain.routing import choose_adapter, max_slippage_bps
from torghut_decision_engine.domain.skills import (
    SKILL_NAMES,
    DomainEvidence,
    SkillInputs,
    run_skill_bundle,
)

NOW = datetime(2026, 2, 12, 15, 31, 3, tzinfo=UTC)
D = Decimal
MakeRequest = Callable[..., DecisionRequest]


def bundle(make_request: MakeRequest, config: RuleConfig | None = None, now: datetime = NOW,
           **overrides: Any) -> dict[str, Any]:
    request = make_request(NOW, **overrides)
    return run_skill_bundle(SkillInputs(request=request, now=now, config=config or RuleConfig()))


def test_every_skill_reports_in_bundle_order_with_freshness_and_quality(make_request: MakeRequest) -> None:
    skills = bundle(make_request)
    assert tuple(skills) == SKILL_NAMES
    for output in skills.values():
        assert output.version == "1.0.0"
        assert D(0) <= output.source_quality <= D(1)
    assert skills["market-context"].status == "ok"
    assert skills["market-context"].freshness_seconds == D("1.0")
    assert skills["technicals-regime"].data["regime"] == "trend_up"
    assert skills["technicals-regime"].data["agrees_with_trigger"] is True
    assert skills["risk-exposure-sizing"].data["max_qty"] == "10"


def test_domains_without_a_provider_are_missing_and_flagged_never_omitted(make_request: MakeRequest) -> None:
    skills = bundle(make_request)
    for name, flag in (("news-sentiment", "missing_news"), ("fundamentals", "missing_fundamentals")):
        assert skills[name].status == "missing"
        assert skills[name].source_quality == 0
        assert skills[name].risk_flags == [flag]
        assert "no " in str(skills[name].data["reason"])


def test_provided_evidence_is_used_and_ages(make_request: MakeRequest) -> None:
    request = make_request(NOW)
    fresh = DomainEvidence(provider="wire", as_of=NOW - timedelta(minutes=5), quality=D("0.9"), score=D("0.4"))
    old = DomainEvidence(provider="wire", as_of=NOW - timedelta(days=1), quality=D("0.9"))
    news = run_skill_bundle(SkillInputs(request, NOW, RuleConfig(), news=fresh))["news-sentiment"]
    assert (news.status, news.source_quality, news.freshness_seconds, news.risk_flags) == ("ok", D("0.9"), 300, [])
    stale = run_skill_bundle(SkillInputs(request, NOW, RuleConfig(), news=old))["news-sentiment"]
    assert (stale.status, stale.source_quality, stale.risk_flags) == ("stale", D("0.2"), ["stale_news"])


TRIGGER_CASES = [
    # id, now offset (s), feature overrides, skill, expected status, expected flag
    ("stale trigger", 400, {}, "market-context", "stale", "stale_trigger"),
    ("stale trigger, technicals too", 400, {}, "technicals-regime", "stale", "stale_technicals"),
    ("trigger from the future", -60, {}, "market-context", "error", "trigger_in_future"),
    ("no macd", 0, {"features": {"macd": None}}, "technicals-regime", "missing", "missing_technicals"),
    ("no spread", 0, {"features": {"spread_bps": None}}, "market-context", "ok", "missing_spread"),
    ("wide spread", 0, {"features": {"spread_bps": "80"}}, "market-context", "ok", "wide_spread"),
    ("no rsi", 0, {"features": {"rsi14": None}}, "technicals-regime", "ok", "missing_rsi14"),
    ("overbought buy", 0, {"features": {"rsi14": "75"}}, "technicals-regime", "ok", "rsi_overbought"),
    ("macd against a buy", 0, {"features": {"macd": "0.1"}}, "technicals-regime", "ok", "technicals_disagree"),
    ("no price anywhere", 0, {"price": None}, "market-context", "missing", "missing_price"),
    ("kill switch", 0, {}, "risk-exposure-sizing", "ok", None),
]


@pytest.mark.parametrize(("offset", "trigger", "skill", "status", "flag"), [c[1:] for c in TRIGGER_CASES],
                         ids=[c[0] for c in TRIGGER_CASES])
def test_trigger_driven_skill_table(make_request: MakeRequest, offset: int, trigger: dict[str, Any], skill: str,
                                    status: str, flag: str | None) -> None:
    request = make_request(NOW, trigger=trigger)
    output = run_skill_bundle(SkillInputs(request, NOW + timedelta(seconds=offset), RuleConfig()))[skill]
    assert output.status == status
    if flag is not None:
        assert flag in output.risk_flags
    if status in ("missing", "error"):
        assert output.source_quality == 0
    if status == "stale":
        assert output.source_quality <= D("0.2")


def test_sizing_skill_reports_its_bounds_and_flags(make_request: MakeRequest) -> None:
    killed = bundle(make_request, risk_policy={"kill_switch_enabled": True})["risk-exposure-sizing"]
    assert "kill_switch_enabled" in killed.risk_flags
    full = bundle(make_request, portfolio={"position": {"market_value": "8000"}})["risk-exposure-sizing"]
    assert full.data["max_qty"] == "0" and "position_limit_reached" in full.risk_flags
    old = bundle(make_request, portfolio={"as_of": (NOW - timedelta(hours=1)).isoformat()})["risk-exposure-sizing"]
    assert (old.status, old.risk_flags[-1]) == ("stale", "stale_portfolio")
    unknown_age = bundle(make_request)["risk-exposure-sizing"]
    assert unknown_age.status == "ok" and "portfolio_as_of_unknown" in unknown_age.risk_flags
    mismatch = bundle(make_request, portfolio={"position": {"symbol": "AAPL"}})["risk-exposure-sizing"]
    assert (mismatch.status, mismatch.source_quality) == ("error", 0)


ROUTING_CASES = [
    # id, primary, lean_enabled, policy, allowlist, expected adapter, reason fragment
    ("alpaca primary, lean off", Adapter.ALPACA, False, "allowlist", {"NVDA"}, Adapter.ALPACA, "primary adapter"),
    ("lean on but symbol not allowlisted", Adapter.ALPACA, True, "allowlist", {"AAPL"}, Adapter.ALPACA,
     "primary adapter"),
    ("lean on and symbol allowlisted", Adapter.ALPACA, True, "allowlist", {"NVDA"}, Adapter.LEAN, "allowlist"),
    ("lean on, policy all", Adapter.ALPACA, True, "all", set(), Adapter.LEAN, "every symbol"),
    ("lean primary but disabled", Adapter.LEAN, False, "all", {"NVDA"}, Adapter.ALPACA, "lean_enabled is false"),
    ("lean primary and enabled", Adapter.LEAN, True, "allowlist", set(), Adapter.LEAN, "primary adapter is lean"),
    ("paper primary", Adapter.PAPER, False, "allowlist", set(), Adapter.PAPER, "primary adapter paper"),
]


@pytest.mark.parametrize(("primary", "lean_enabled", "policy", "allowlist", "adapter", "reason"),
                         [c[1:] for c in ROUTING_CASES], ids=[c[0] for c in ROUTING_CASES])
def test_adapter_hint_table(primary: Adapter, lean_enabled: bool, policy: str, allowlist: set[str],
                            adapter: Adapter, reason: str) -> None:
    config = RuleConfig(lean_policy=policy, lean_symbols=frozenset(allowlist))  # type: ignore[arg-type]
    route = choose_adapter("NVDA", ExecutionContext(primary_adapter=primary, lean_enabled=lean_enabled), config)
    assert route.adapter is adapter
    assert reason in route.reason


@pytest.mark.parametrize(("spread", "expected"), [(None, "25"), ("1", "10"), ("5.1", "10.2"), ("20", "40"),
                                                  ("40", "50")])
def test_slippage_follows_the_spread_within_bounds(spread: str | None, expected: str) -> None:
    assert max_slippage_bps(D(spread) if spread else None, RuleConfig()) == D(expected)
