"""How a trigger's handler routes it: republish a stored decision at once, or claim it behind its symbol."""

from __future__ import annotations

from torghut_decision_client.domain.claims import Route, route


def test_a_stored_decision_is_republished_at_once_unless_its_symbol_has_claims_waiting() -> None:
    assert route(decision_stored=True, symbol_busy=False) is Route.REPUBLISH
    assert route(decision_stored=True, symbol_busy=True) is Route.CLAIM
    assert route(decision_stored=False, symbol_busy=False) is Route.CLAIM
