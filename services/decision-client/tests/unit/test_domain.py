"""The pure core: portfolio from a snapshot, the request, deterministic ids, outcomes as decisions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.decision_engine import (
    DecisionFinal,
    ExecutionContext,
    PortfolioContext,
    RiskPolicyContext,
)
from torghut_contracts.enums import Action
from torghut_contracts.models import AccountSnapshot, DecisionIntent, StrategyTrigger
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.ids import decision_id
from torghut_decision_client.domain.outcome import (
    EngineFailure,
    Provenance,
    answer_from_final,
    decision_from_outcome,
    hold_without_engine,
    shadow_verdict,
)
from torghut_decision_client.domain.portfolio import PortfolioUnavailable, is_newer, portfolio_context
from torghut_decision_client.domain.request import build_request

T0 = datetime(2026, 2, 12, 15, 31, 2, tzinfo=UTC)
MAX_AGE = timedelta(seconds=300)


def test_no_snapshot_is_portfolio_unavailable() -> None:
    result = portfolio_context(None, symbol="NVDA", at=T0, max_age=MAX_AGE)
    assert isinstance(result, PortfolioUnavailable) and result.reason == reasons.PORTFOLIO_UNAVAILABLE


@pytest.mark.parametrize(("age_s", "stale"), [(-60, False), (0, False), (300, False), (301, True), (86400, True)])
def test_staleness_is_judged_at_the_triggers_event_time(make_snapshot: Callable[..., AccountSnapshot], age_s: int,
                                                        stale: bool) -> None:
    snapshot = make_snapshot(as_of=T0 - timedelta(seconds=age_s))
    result = portfolio_context(snapshot, symbol="NVDA", at=T0, max_age=MAX_AGE)
    if stale:
        assert isinstance(result, PortfolioUnavailable) and result.reason == reasons.PORTFOLIO_STALE
        assert "snap-1" in result.detail
    else:
        assert isinstance(result, PortfolioContext)


def test_the_portfolio_carries_gross_exposure_and_the_symbols_position(
        make_snapshot: Callable[..., AccountSnapshot]) -> None:
    result = portfolio_context(make_snapshot(), symbol="NVDA", at=T0, max_age=MAX_AGE)
    assert isinstance(result, PortfolioContext)
    assert result.current_exposure == Decimal("2552.70")  # |1602.70| + |-950|
    assert result.position is not None and result.position.qty == Decimal(10)
    assert result.equity == Decimal(100000) and result.buying_power == Decimal("196794.60")
    other = portfolio_context(make_snapshot(), symbol="MSFT", at=T0, max_age=MAX_AGE)
    assert isinstance(other, PortfolioContext) and other.position is None


def test_an_older_snapshot_never_replaces_a_newer_one(make_snapshot: Callable[..., AccountSnapshot]) -> None:
    new = make_snapshot("snap-2", as_of=T0)
    old = make_snapshot("snap-1", as_of=T0 - timedelta(minutes=1))
    assert is_newer(new, None) and is_newer(new, old)
    assert not is_newer(old, new) and not is_newer(new, new)


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_decision_ids_are_deterministic_and_scoped_by_account(account: str, other: str, request_id: str) -> None:
    assert decision_id(account, request_id) == decision_id(account, request_id)
    assert decision_id(account, request_id).startswith("dec-") and len(decision_id(account, request_id)) == 36
    if other != account:
        assert decision_id(other, request_id) != decision_id(account, request_id)


def test_the_request_carries_the_trigger_portfolio_policy_and_required_domains(
        make_trigger: Callable[..., StrategyTrigger], make_snapshot: Callable[..., AccountSnapshot]) -> None:
    portfolio = portfolio_context(make_snapshot(), symbol="NVDA", at=T0, max_age=MAX_AGE)
    assert isinstance(portfolio, PortfolioContext)
    policy = RiskPolicyContext(max_notional_per_trade=Decimal(7000), max_position_pct_equity=Decimal("0.08"))
    request = build_request(make_trigger("req-9"), account="paper-main", portfolio=portfolio, risk_policy=policy,
                            execution=ExecutionContext(), required_domains=["technicals-regime"])
    assert request.request_id == "req-9" and request.account == "paper-main"
    assert request.trigger.type == "macd_cross_up" and request.trigger.features["macd"] == Decimal("1.2")
    assert request.trigger.price == Decimal("160.25") and request.trigger.direction is not None
    assert request.portfolio == portfolio and request.risk_policy == policy
    assert request.required_domains == ["technicals-regime"]


def _final(request_id: str = "req-1", **overrides: object) -> DecisionFinal:
    values: dict[str, object] = dict(
        run_id="run-1", request_id=request_id, intent=DecisionIntent(action=Action.BUY, qty=Decimal(5)),
        confidence=Decimal("0.6"), size_recommendation={"max_qty": "5", "max_notional": "900"},
        engine_version="ref-1", mode="deterministic", artifact_refs={"technicals-regime": "db://1"},
        risk_flags=["news_sentiment_missing"])
    values.update(overrides)
    return DecisionFinal.model_validate(values)


def test_an_answer_becomes_the_engines_intent_with_provenance(make_trigger: Callable[..., StrategyTrigger]) -> None:
    answer = answer_from_final(_final(artifact_hash="c" * 64, program="prog"), transport="decision-engine",
                               run_id="run-1", latency_ms=1234)
    decision = decision_from_outcome(make_trigger(), account="paper-main", outcome=answer, decided_at=T0)
    assert decision.intent.action is Action.BUY and decision.intent.qty == Decimal(5)
    assert decision.decision_id == decision_id("paper-main", "req-1")
    assert decision.reference_price == Decimal("160.25") and decision.signal_event_ts == T0
    assert decision.risk_flags == ["news_sentiment_missing"] and decision.reason_codes == []
    p = decision.provenance
    assert (p.transport, p.engine_version, p.mode, p.program, p.artifact_hash, p.run_id, p.latency_ms) == (
        "decision-engine", "ref-1", "deterministic", "prog", "c" * 64, "run-1", Decimal(1234))


def test_a_failure_becomes_a_published_hold_with_its_reasons(make_trigger: Callable[..., StrategyTrigger]) -> None:
    failure = EngineFailure(reason_codes=(reasons.ENGINE_STALLED,), detail="heartbeats only",
                            provenance=Provenance(transport="decision-engine", run_id="run-7", latency_ms=5))
    decision = decision_from_outcome(make_trigger(), account="paper-main", outcome=failure, decided_at=T0)
    assert decision.intent == DecisionIntent(action=Action.HOLD, qty=Decimal(0))
    assert decision.confidence == 0 and decision.reason_codes == [reasons.ENGINE_STALLED]
    assert decision.uncertainty_notes == ["heartbeats only"]
    assert decision.provenance.mode == "fail_closed" and decision.provenance.run_id == "run-7"


def test_a_hold_without_engine_names_the_transport_it_did_not_call(
        make_trigger: Callable[..., StrategyTrigger]) -> None:
    decision = hold_without_engine(make_trigger(), account="paper-main", transport="decision-engine",
                                   reason=reasons.PORTFOLIO_STALE, detail="old", decided_at=T0)
    assert decision.intent.action is Action.HOLD and decision.reason_codes == ["portfolio_stale"]
    assert decision.provenance.transport == "decision-engine" and decision.provenance.run_id is None


def test_overlong_engine_strings_are_bounded_not_fatal(make_trigger: Callable[..., StrategyTrigger]) -> None:
    answer = answer_from_final(_final(engine_version="v" * 300, mode="m" * 300), transport="decision-engine",
                               run_id=None, latency_ms=None)
    decision = decision_from_outcome(make_trigger(), account="paper-main", outcome=answer, decided_at=T0)
    assert len(decision.provenance.engine_version) == 64 and len(decision.provenance.mode) == 64
    assert decision.provenance.run_id == "run-1"


def test_shadow_verdicts_record_the_opinion_or_the_failure() -> None:
    answer = answer_from_final(_final(), transport="dspy", run_id=None, latency_ms=1)
    verdict = shadow_verdict(answer, artifact_hash="d" * 64)
    assert (verdict.action, verdict.qty, verdict.confidence, verdict.artifact_hash) == (
        Action.BUY, Decimal(5), Decimal("0.6"), "d" * 64)
    failed = shadow_verdict(EngineFailure(("dspy_lm_error",), "down", Provenance(transport="dspy")),
                            artifact_hash="d" * 64)
    assert (failed.action, failed.qty, failed.reason_codes) == (Action.HOLD, Decimal(0), ["dspy_lm_error"])
