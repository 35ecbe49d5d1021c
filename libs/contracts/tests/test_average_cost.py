"""The average-cost book the console's account page and the demo's report are built from."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.average_cost import SymbolBook, account_pnl
from torghut_contracts.enums import Side


def test_adding_to_a_position_moves_its_average() -> None:
    book = SymbolBook().after_fill(Side.BUY, D(10), D(100)).after_fill(Side.BUY, D(10), D(110))
    assert (book.qty, book.average_price, book.realized) == (D(20), D(105), D(0))


def test_reducing_realises_against_the_average_and_keeps_it() -> None:
    book = SymbolBook().after_fill(Side.BUY, D(20), D(105)).after_fill(Side.SELL, D(5), D(115))
    assert (book.qty, book.average_price, book.realized) == (D(15), D(105), D(50))


def test_crossing_zero_closes_the_position_and_opens_the_rest_at_the_fill_price() -> None:
    book = SymbolBook().after_fill(Side.BUY, D(10), D(100)).after_fill(Side.SELL, D(15), D(90))
    assert (book.qty, book.average_price, book.realized) == (D(-5), D(90), D(-100))


def test_a_short_gains_when_the_price_falls() -> None:
    book = SymbolBook().after_fill(Side.SELL, D(10), D(50))
    assert book.unrealized(D(45)) == D(50)
    assert book.after_fill(Side.BUY, D(10), D(45)) == SymbolBook(D(0), D(0), D(50))


def test_the_account_marks_open_positions_and_sums_realised_pnl() -> None:
    books = {"AAPL": SymbolBook(D(10), D(1000), D(7)), "MSFT": SymbolBook(D(0), D(0), D(-2)),
             "NVDA": SymbolBook(D(-2), D(-300), D(0))}
    pnl = account_pnl(books, {"AAPL": D(101), "NVDA": D(160)})
    assert (pnl.realized, pnl.unrealized, pnl.total) == (D(5), D(10) + D(-20), D(-5))


def test_a_position_without_a_mark_is_not_valued() -> None:
    assert account_pnl({"AAPL": SymbolBook(D(10), D(1000), D(0))}, {}).unrealized == 0


prices = st.decimals(min_value=D("0.01"), max_value=D(10_000), places=2)
quantities = st.decimals(min_value=D(1), max_value=D(1000), places=0)


@given(st.lists(st.tuples(st.sampled_from(Side), quantities, prices), min_size=1, max_size=30), prices)
def test_flattening_at_a_price_realises_exactly_what_was_unrealised_there(fills: list[tuple[Side, D, D]],
                                                                          price: D) -> None:
    book = SymbolBook()
    for side, qty, fill_price in fills:
        book = book.after_fill(side, qty, fill_price)
    open_pnl = book.unrealized(price)
    if book.qty == 0:
        return
    flat = book.after_fill(Side.SELL if book.qty > 0 else Side.BUY, abs(book.qty), price)
    assert flat.qty == 0 and flat.cost == 0
    assert abs(flat.realized - (book.realized + open_pnl)) < D("1e-12")
