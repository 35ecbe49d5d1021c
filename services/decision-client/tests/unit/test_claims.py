"""The claim worker's rules: one claim per symbol at a time, oldest first; leases respected."""

from __future__ import annotations

from torghut_decision_client.domain.claims import Head, Route, route, startable

ME = "host-a:1"


def head(seq: int, symbol: str, owner: str | None = None, leased: bool = False) -> Head:
    return Head(seq=seq, symbol=symbol, lease_owner=owner, leased=leased)


def test_free_heads_start_oldest_first_up_to_the_free_slots() -> None:
    heads = [head(7, "NVDA"), head(3, "AAPL"), head(5, "MSFT")]
    assert [h.seq for h in startable(heads, busy=set(), free=2, owner=ME)] == [3, 5]
    assert startable(heads, busy=set(), free=0, owner=ME) == []


def test_a_symbol_in_hand_waits_for_its_claim_to_finish() -> None:
    heads = [head(3, "AAPL"), head(5, "MSFT")]
    assert [h.symbol for h in startable(heads, busy={"AAPL"}, free=4, owner=ME)] == ["MSFT"]


def test_another_workers_live_lease_is_left_alone_an_expired_or_own_one_is_taken() -> None:
    heads = [head(1, "AAPL", "host-b:7", leased=True), head(2, "MSFT", "host-b:7", leased=False),
             head(3, "NVDA", ME, leased=True)]
    assert [h.symbol for h in startable(heads, busy=set(), free=4, owner=ME)] == ["MSFT", "NVDA"]


def test_a_stored_decision_is_republished_at_once_unless_its_symbol_has_claims_waiting() -> None:
    assert route(decision_stored=True, symbol_busy=False) is Route.REPUBLISH
    assert route(decision_stored=True, symbol_busy=True) is Route.CLAIM
    assert route(decision_stored=False, symbol_busy=False) is Route.CLAIM
