"""Decision rules: the trigger's direction at the sized qty, or hold with every failing reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.decision_engine import DecisionFinal, DecisionRequest
from torghut_contracts.enums import Action, Adapter
from torghut_decision_engine.domain.config import RuleConfig
from torghut_decision_engine.domain.final import Provenance, build_final
from torghut_decision_engine.domain.rules import LlmOpinion, Proposal, apply_llm_opinion, decide, fall_back
from torghut_decision_engine.domain.skills import SkillInputs, run_skill_bundle

NOW = datetime(2026, 2, 12, 15, 31, 3, tzinfo=UTC)
D = Decimal
DEFAULT_REQUIRED = frozenset({"technicals-regime", "risk-exposure-sizing", "market-context"})
MakeRequest = Callable[..., DecisionRequest]


def propose(request: DecisionRequest, required: frozenset[str] = DEFAULT_REQUIRED, now: datetime = NOW,
            config: RuleConfig | None = None) -> Proposal:
    config = config or RuleConfig()
    skills = run_skill_bundle(SkillInputs(request, now, config))
    return decide(request, skills, required, config)


CASES: list[tuple[str, dict[str, Any], str, str, list[str]]] = [
    # id, request overrides, action, qty, reason codes
    ("seed example buys what the position cap allows", {}, "buy", "10", []),
    ("flat book: per-trade cap", {"portfolio": {"position": None}}, "buy", "43", []),
    ("sell reduces the long", {"trigger": {"direction": "sell", "features": {"macd": "0.2"}}}, "sell", "40", []),
    ("kill switch", {"risk_policy": {"kill_switch_enabled": True}}, "hold", "0", ["kill_switch_enabled"]),
    ("position cap reached", {"portfolio": {"position": {"market_value": "8000"}}}, "hold", "0",
     ["size_zero", "position_limit_reached"]),
    ("no direction", {"trigger": {"direction": None}}, "hold", "0",
     ["missing_direction", "size_zero"]),
    ("technicals against the trigger", {"trigger": {"features": {"macd": "0.5"}}}, "hold", "0",
     ["technicals_disagree"]),
    ("spread too wide", {"trigger": {"features": {"spread_bps": "75"}}}, "hold", "0", ["spread_too_wide"]),
    ("technicals required but missing", {"trigger": {"features": {"macd": None}}}, "hold", "0",
     ["required_domain_insufficient:technicals-regime"]),
    ("sell with no long position", {"trigger": {"direction": "sell", "features": {"macd": "0.2"}},
                                    "portfolio": {"position": None}}, "hold", "0",
     ["size_zero", "no_long_position_to_sell"]),
    ("news required by the request: missing", {"required_domains": ["news-sentiment"]}, "hold", "0",
     ["required_domain_insufficient:news-sentiment"]),
    ("everything wrong at once: every reason", {"risk_policy": {"kill_switch_enabled": True},
                                               "trigger": {"features": {"spread_bps": "90", "macd": "0.1"}},
                                               "portfolio": {"position": {"market_value": "9000"}}}, "hold", "0",
     ["kill_switch_enabled", "spread_too_wide", "technicals_disagree", "size_zero", "position_limit_reached"]),
]


@pytest.mark.parametrize(("overrides", "action", "qty", "reasons"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decision_table(make_request: MakeRequest, overrides: dict[str, Any], action: str, qty: str,
                        reasons: list[str]) -> None:
    request = make_request(NOW, **overrides)
    required = DEFAULT_REQUIRED | frozenset(request.required_domains or ())
    proposal = propose(request, required)
    assert (proposal.action.value, proposal.qty) == (action, D(qty))
    assert list(proposal.reason_codes) == list(dict.fromkeys(reasons))


def test_a_stale_trigger_holds_with_its_reasons(make_request: MakeRequest) -> None:
    proposal = propose(make_request(NOW), now=NOW + timedelta(minutes=10))
    assert proposal.action is Action.HOLD
    assert "stale_trigger" in proposal.reason_codes
    assert "required_domain_insufficient:market-context" in proposal.reason_codes
    assert "required_domain_insufficient:technicals-regime" in proposal.reason_codes


def test_a_stale_portfolio_holds(make_request: MakeRequest) -> None:
    request = make_request(NOW, portfolio={"as_of": (NOW - timedelta(hours=2)).isoformat()})
    proposal = propose(request)
    assert proposal.action is Action.HOLD
    assert {"stale_portfolio", "required_domain_insufficient:risk-exposure-sizing"} <= set(proposal.reason_codes)


def test_quality_threshold_decides_for_required_domains(make_request: MakeRequest) -> None:
    no_rsi = make_request(NOW, trigger={"features": {"rsi14": None}})  # technicals quality 0.7
    assert propose(no_rsi, config=RuleConfig(quality_threshold=D("0.6"))).action is Action.BUY
    strict = propose(no_rsi, config=RuleConfig(quality_threshold=D("0.8")))
    assert strict.reason_codes == ("required_domain_insufficient:technicals-regime",)


def test_risk_flags_and_uncertainty_name_missing_domains(make_request: MakeRequest) -> None:
    proposal = propose(make_request(NOW, portfolio={"as_of": NOW.isoformat()}))
    assert {"missing_news", "missing_fundamentals"} <= set(proposal.risk_flags)
    assert any(note.startswith("news-sentiment (optional) is missing") for note in proposal.uncertainty_notes)
    assert proposal.confidence == D("1.00")  # required domains at full quality, technicals agree
    unknown_portfolio_age = propose(make_request(NOW))
    assert unknown_portfolio_age.confidence == D("0.97")  # sizing quality 0.8: 0.4 + 0.4 x 0.933 + 0.2


def test_the_final_payload_is_a_valid_contract(make_request: MakeRequest) -> None:
    request = make_request(NOW)
    skills = run_skill_bundle(SkillInputs(request, NOW, RuleConfig(lean_symbols=frozenset({"NVDA"}))))
    proposal = decide(request, skills, DEFAULT_REQUIRED, RuleConfig())
    final = build_final("run-1", request, proposal, skills, Provenance("0.1.0", "deterministic", "p", "a" * 64))
    again = DecisionFinal.model_validate_json(final.model_dump_json())
    assert again.intent.action is Action.BUY and again.intent.qty == 10
    assert again.intent.adapter_hint is Adapter.LEAN and "allowlist" in (again.intent.adapter_hint_reason or "")
    assert again.intent.max_slippage_bps == D("10.2")
    assert (again.size_recommendation.max_qty, again.size_recommendation.max_notional) == (10, 1600)
    assert set(again.artifact_refs) == set(skills)
    assert again.artifact_refs["fundamentals"].startswith(
        "/api/torghut/decision-engine/runs/run-1/artifacts/fundamentals#sha256=")


def opinion(action: str, confidence: str = "0.8", flags: tuple[str, ...] = ()) -> LlmOpinion:
    return LlmOpinion(action=Action(action), confidence=D(confidence), analysis="model analysis", risk_flags=flags)


LLM_CASES = [
    # id, deterministic overrides, opinion, action, added reason
    ("agrees: trade at the deterministic size", {}, opinion("buy"), "buy", None),
    ("model holds", {}, opinion("hold"), "hold", "llm_hold"),
    ("model flips direction", {}, opinion("sell"), "hold", "llm_direction_conflict"),
    ("model unsure", {}, opinion("buy", "0.3"), "hold", "llm_low_confidence"),
    ("model cannot override a hold", {"risk_policy": {"kill_switch_enabled": True}}, opinion("buy", "0.99"), "hold",
     None),
]


@pytest.mark.parametrize(("overrides", "llm", "action", "reason"), [c[1:] for c in LLM_CASES],
                         ids=[c[0] for c in LLM_CASES])
def test_llm_opinion_table(make_request: MakeRequest, overrides: dict[str, Any], llm: LlmOpinion, action: str,
                           reason: str | None) -> None:
    base = propose(make_request(NOW, **overrides))
    merged = apply_llm_opinion(base, llm, RuleConfig())
    assert merged.action.value == action
    assert merged.qty == (base.qty if action != "hold" else 0)
    assert merged.summary == "model analysis"
    assert merged.confidence == llm.confidence
    if reason is not None:
        assert merged.reason_codes[-1] == reason


def test_llm_flags_are_namespaced(make_request: MakeRequest) -> None:
    merged = apply_llm_opinion(propose(make_request(NOW)), opinion("buy", flags=("earnings_tomorrow",)), RuleConfig())
    assert "llm:earnings_tomorrow" in merged.risk_flags


def test_a_failed_review_falls_back_to_hold_with_the_reason(make_request: MakeRequest) -> None:
    held = fall_back(propose(make_request(NOW)), "llm_parse_error", "no fields")
    assert (held.action, held.qty, held.reason_codes[-1]) == (Action.HOLD, 0, "llm_parse_error")
    assert held.max_qty == 10, "the size bound is still reported"
    assert any("language model failed" in note for note in held.uncertainty_notes)
