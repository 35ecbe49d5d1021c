"""Worst-case exposure of an account, counting approved-but-unfilled orders.

Any subset of the open orders may still fill, so for each symbol the position lies between
``lo = position - pending sells`` and ``hi = position + pending buys``. Every cap is checked
against the worst end: gross uses ``max(|hi|, |lo|)``, net checks both ``sum(hi)`` and
``sum(lo)``, and an order is *reduce-only* only if it cannot take the position past zero even
when every other open order fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from torghut_contracts.enums import Side

from .state import ZERO, MarketState, OpenOrder, PortfolioState


@dataclass(frozen=True, slots=True)
class SymbolBook:
    position: Decimal
    pending_buy: Decimal
    pending_sell: Decimal

    @property
    def hi(self) -> Decimal:
        return self.position + self.pending_buy

    @property
    def lo(self) -> Decimal:
        return self.position - self.pending_sell

    @property
    def worst_abs(self) -> Decimal:
        return max(abs(self.hi), abs(self.lo))

    def reduce_room(self, side: Side) -> Decimal:
        """How much of ``side`` can trade without ever taking the position past zero."""
        room = self.lo if side is Side.SELL else -self.hi
        return room if room > ZERO else ZERO


@dataclass(frozen=True, slots=True)
class AccountExposure:
    """Totals in USD over every symbol with a position or an open order."""

    gross: Decimal
    net_hi: Decimal
    net_lo: Decimal
    reserved_buying_power: Decimal
    unmarked: tuple[str, ...]
    """Symbols with exposure but no known price: exposure cannot be bounded, so adding is vetoed."""


def pending_by_symbol(open_orders: Iterable[OpenOrder]) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for order in open_orders:
        buy, sell = out.get(order.symbol, (ZERO, ZERO))
        if order.side is Side.BUY:
            buy += order.remaining_qty
        else:
            sell += order.remaining_qty
        out[order.symbol] = (buy, sell)
    return out


def symbol_book(portfolio: PortfolioState, pending: dict[str, tuple[Decimal, Decimal]], symbol: str) -> SymbolBook:
    buy, sell = pending.get(symbol, (ZERO, ZERO))
    return SymbolBook(portfolio.positions.get(symbol, ZERO), buy, sell)


def mark_price(symbol: str, portfolio: PortfolioState, market: MarketState,
               pending_prices: dict[str, Decimal] | None = None) -> Decimal | None:
    """The price exposure is valued at: last signal, else the broker's mark, else the order price."""
    mark = market.marks.get(symbol)
    if mark is not None:
        return mark.price
    broker = portfolio.position_marks.get(symbol)
    if broker is not None and broker > ZERO:
        return broker
    return None if pending_prices is None else pending_prices.get(symbol)


_NO_PENDING = (ZERO, ZERO)


def account_exposure(portfolio: PortfolioState, market: MarketState,
                     pending: dict[str, tuple[Decimal, Decimal]]) -> AccountExposure:
    """Gross, net bounds and reserved buying power; written flat because it runs for every order."""
    gross = net_hi = net_lo = reserved = ZERO
    order_prices: dict[str, Decimal] = {}
    for order in portfolio.open_orders:
        if order.adds_exposure:
            reserved += order.remaining_qty * order.price
        if order.symbol not in order_prices:
            order_prices[order.symbol] = order.price
    positions = portfolio.positions
    marks = market.marks
    broker_marks = portfolio.position_marks
    unmarked: list[str] = []
    for symbol in positions.keys() | pending.keys():
        position = positions.get(symbol, ZERO)
        buy, sell = pending.get(symbol, _NO_PENDING)
        hi = position + buy
        lo = position - sell
        if not hi and not lo:
            continue
        mark = marks.get(symbol)
        if mark is not None:
            price: Decimal | None = mark.price
        else:
            price = broker_marks.get(symbol)
            if price is None or price <= ZERO:
                price = order_prices.get(symbol)
        if price is None:
            unmarked.append(symbol)
            continue
        abs_hi = hi if hi >= ZERO else -hi
        abs_lo = lo if lo >= ZERO else -lo
        gross += (abs_hi if abs_hi >= abs_lo else abs_lo) * price
        net_hi += hi * price
        net_lo += lo * price
    return AccountExposure(gross, net_hi, net_lo, reserved, tuple(sorted(unmarked)))
