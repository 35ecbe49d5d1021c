"""Positions and P&L from fills: an average-cost book per symbol, marked at a price the caller holds.

Average cost: adding to a position moves its average; reducing realises the difference from it;
crossing zero closes the old position and opens the rest at the fill price. One definition for
everything that rebuilds an account from ``torghut.trade-updates.v1`` (the operator console's read
model, the demo's report), so the two cannot disagree on what a fill did.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .enums import Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class SymbolBook:
    qty: Decimal = ZERO
    cost: Decimal = ZERO
    """Signed cost of the open position: qty times its average entry price."""
    realized: Decimal = ZERO

    def after_fill(self, side: Side, qty: Decimal, price: Decimal) -> SymbolBook:
        signed = qty if side is Side.BUY else -qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            return SymbolBook(self.qty + signed, self.cost + signed * price, self.realized)
        average = self.cost / self.qty
        closed = min(abs(signed), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        realized = self.realized + closed * (price - average) * direction
        remaining = self.qty + signed
        if remaining == 0:
            return SymbolBook(ZERO, ZERO, realized)
        if (remaining > 0) == (self.qty > 0):
            return SymbolBook(remaining, average * remaining, realized)
        return SymbolBook(remaining, remaining * price, realized)

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.qty if self.qty else None

    def unrealized(self, mark: Decimal | None) -> Decimal:
        if self.qty == 0 or mark is None:
            return ZERO
        return self.qty * mark - self.cost

    def exposure(self, mark: Decimal | None) -> Decimal:
        return abs(self.qty) * (mark if mark is not None else abs(self.average_price or ZERO))


@dataclass(frozen=True)
class PnL:
    realized: Decimal
    unrealized: Decimal

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized


def account_pnl(books: dict[str, SymbolBook], marks: dict[str, Decimal]) -> PnL:
    """The account's P&L: every symbol's realised P&L, and its open position at the symbol's mark."""
    realized = sum((b.realized for b in books.values()), ZERO)
    unrealized = sum((b.unrealized(marks.get(symbol)) for symbol, b in books.items()), ZERO)
    return PnL(realized, unrealized)
