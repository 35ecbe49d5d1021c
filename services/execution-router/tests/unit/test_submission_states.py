"""The submission state machine (``domain.submission``): intake of an approved order, the router's own
refusals, what each venue answer leads to, and when an unknown outcome becomes a rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent
from torghut_execution_router.domain.orders import EventSource, VenueEvent, VenueOrder, state_event
from torghut_execution_router.domain.routing import RouteDecision, RoutingPolicy, fallback_route, resumed_route
from torghut_execution_router.domain.submission import (
    ABANDONED_CLAIM,
    REJECTED_REPORT,
    UNKNOWN_REPORT,
    Intake,
    SubmitKind,
    SubmitOutcome,
    SubmitState,
    Transition,
    after_outcome,
    counts_lookups,
    found_at_venue,
    intake,
    never_acknowledged,
    refusal,
    refused,
    router_event,
)

T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)
ORDER = VenueOrder(venue=Adapter.LEAN, client_order_id="c1", symbol="NVDA", side=Side.BUY, qty=D(10),
                   status=OrderStatus.PENDING_NEW, submitted_at=T0)
ACCEPTED_EVENT = state_event(ORDER, EventSource.SUBMIT)
TO_PAPER = RouteDecision(adapter=Adapter.PAPER, expected=Adapter.PAPER)
NOWHERE = RouteDecision(adapter=None, expected=Adapter.LEAN, reason="lean_symbol_not_allowed")


@pytest.mark.parametrize(("existing", "expected"), [
    (None, Intake.PLACE), (SubmitState.CLAIMED, Intake.RECOVER), (SubmitState.ACKNOWLEDGED, Intake.REPLAY),
    (SubmitState.REJECTED, Intake.REPLAY), (SubmitState.UNKNOWN, Intake.REPLAY),
])
def test_an_approved_order_is_placed_once(existing: SubmitState | None, expected: Intake) -> None:
    assert intake(existing) is expected


@pytest.mark.parametrize(("block", "age_s", "max_age_s", "route", "expected"), [
    (None, 10, 300, TO_PAPER, None),
    ("kill_switch_enabled", 10, 300, TO_PAPER, "kill_switch_enabled"),
    ("control_state_unknown", 900, 300, NOWHERE, "control_state_unknown"),  # the posture is reported first
    (None, 301, 300, TO_PAPER, "order_stale"),
    (None, 301, 300, NOWHERE, "order_stale"),                                # then the age
    (None, 10_000, 0, TO_PAPER, None),                                       # 0: no age limit (replays)
    (None, 10, 300, NOWHERE, "lean_symbol_not_allowed"),                     # then the route
    (None, 10, 300, RouteDecision(adapter=None, expected=Adapter.LEAN), "no_route"),
])
def test_the_router_refuses_before_any_venue_is_called(block: str | None, age_s: int, max_age_s: float,
                                                       route: RouteDecision, expected: str | None) -> None:
    assert refusal(block, age=timedelta(seconds=age_s), max_order_age_s=max_age_s, route=route) == expected


@pytest.mark.parametrize(("outcome", "expected"), [
    (SubmitOutcome(SubmitKind.ACCEPTED, [ACCEPTED_EVENT]), Transition(SubmitState.ACKNOWLEDGED)),
    (SubmitOutcome(SubmitKind.REJECTED, reason="alpaca_403:insufficient_buying_power"),
     Transition(SubmitState.REJECTED, "alpaca_403:insufficient_buying_power", REJECTED_REPORT)),
    (SubmitOutcome(SubmitKind.REJECTED, [ACCEPTED_EVENT], reason="lean_rejected"),
     Transition(SubmitState.REJECTED, "lean_rejected")),                 # the venue's own events report it
    (SubmitOutcome(SubmitKind.UNKNOWN, reason="alpaca_timeout"),
     Transition(SubmitState.UNKNOWN, "alpaca_timeout", UNKNOWN_REPORT, reconcile=True)),
])
def test_what_a_venue_answer_leads_to(outcome: SubmitOutcome, expected: Transition) -> None:
    assert after_outcome(outcome) == expected


def test_an_unknown_outcome_is_pending_never_rejected() -> None:
    transition = after_outcome(SubmitOutcome(SubmitKind.UNKNOWN, reason="alpaca_timeout"))
    assert transition.report == (OrderStatus.UNKNOWN, TradeEvent.PENDING_NEW)
    assert refused("order_stale") == Transition(SubmitState.REJECTED, "order_stale", REJECTED_REPORT)
    assert ABANDONED_CLAIM == Transition(SubmitState.UNKNOWN, "claim_abandoned")


@pytest.mark.parametrize(("state", "found", "counts"), [
    (SubmitState.CLAIMED, SubmitState.ACKNOWLEDGED, False),
    (SubmitState.UNKNOWN, SubmitState.ACKNOWLEDGED, True),
    (SubmitState.ACKNOWLEDGED, None, False),
    (SubmitState.REJECTED, None, False),
])
def test_a_lookup_settles_claims_and_unknown_outcomes(state: SubmitState, found: SubmitState | None,
                                                      counts: bool) -> None:
    assert (found_at_venue(state), counts_lookups(state)) == (found, counts)


@given(st.integers(1, 20), st.integers(1, 20))
def test_only_the_last_allowed_not_found_lookup_rejects(lookups: int, max_lookups: int) -> None:
    reason = never_acknowledged(lookups, max_lookups)
    assert (reason == "venue_never_acknowledged") is (lookups >= max_lookups)
    assert reason is None or never_acknowledged(lookups + 1, max_lookups) == reason


def test_the_routers_own_event_reports_the_order_as_it_knows_it_at_the_given_venue() -> None:
    made = router_event(ORDER, Adapter.PAPER, REJECTED_REPORT, "lean_submit_timeout", T0 + timedelta(seconds=5))
    assert made == VenueEvent(
        order=VenueOrder(venue=Adapter.PAPER, client_order_id="c1", symbol="NVDA", side=Side.BUY, qty=D(10),
                         status=OrderStatus.REJECTED, submitted_at=T0, updated_at=T0 + timedelta(seconds=5)),
        event=TradeEvent.REJECTED, timestamp=T0 + timedelta(seconds=5), source=EventSource.ROUTER,
        reason="lean_submit_timeout")
    assert not made.is_venue_fact


def test_a_failed_lean_submit_goes_to_the_fallback_tagged_or_nowhere() -> None:
    lean = RouteDecision(adapter=Adapter.LEAN, expected=Adapter.LEAN, fallback=Adapter.ALPACA)
    assert fallback_route(lean, "lean_submit_timeout") == RouteDecision(
        adapter=Adapter.ALPACA, expected=Adapter.LEAN, reason="lean_submit_timeout")
    assert fallback_route(RouteDecision(adapter=Adapter.LEAN, expected=Adapter.LEAN), "lean_submit_http_503") is None


def test_a_recovered_claim_keeps_its_venue_and_lean_its_fallback() -> None:
    policy = RoutingPolicy(primary=Adapter.LEAN, fallback=Adapter.PAPER, configured=frozenset(Adapter))
    assert resumed_route(Adapter.LEAN, Adapter.LEAN, policy) == RouteDecision(
        adapter=Adapter.LEAN, expected=Adapter.LEAN, fallback=Adapter.PAPER)
    assert resumed_route(Adapter.ALPACA, Adapter.LEAN, policy) == RouteDecision(
        adapter=Adapter.ALPACA, expected=Adapter.LEAN)
