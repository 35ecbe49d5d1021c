"""Positions folded from fills against the venue's snapshot."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st
from torghut_operator_console.domain.reconcile import PositionGap, position_gaps


def test_agreeing_books_have_no_gap_and_a_flat_symbol_equals_a_missing_one() -> None:
    assert position_gaps({"AAPL": D(10), "MSFT": D(0)}, {"AAPL": D("10.0")}) == []


def test_each_differing_symbol_is_named_with_both_quantities() -> None:
    gaps = position_gaps({"AAPL": D(10), "NVDA": D(-3)}, {"AAPL": D(7), "SPY": D(5)})
    assert gaps == [PositionGap("AAPL", D(10), D(7)), PositionGap("NVDA", D(-3), D(0)),
                    PositionGap("SPY", D(0), D(5))]


quantities = st.dictionaries(st.sampled_from(["AAPL", "MSFT", "NVDA", "SPY"]),
                             st.integers(-1000, 1000).map(D), max_size=4)


@given(quantities, quantities)
def test_a_gap_is_exactly_a_symbol_whose_quantities_differ(fills: dict[str, D], venue: dict[str, D]) -> None:
    named = {gap.symbol for gap in position_gaps(fills, venue)}
    assert named == {s for s in set(fills) | set(venue) if fills.get(s, D(0)) != venue.get(s, D(0))}
