"""The state the core judges against: the account's portfolio and the market.

Plain immutable values, built by the Postgres store and by tests alike. Quantities are signed
Decimals (negative is short). Open orders are approved-but-unfilled orders: they count against
every limit until a fill turns them into position or a terminal event releases them. The operator's
posture is ``torghut_contracts.posture.TradingPosture``, shared with the execution router.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from torghut_contracts.enums import Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An approved order not yet filled or terminal; ``remaining_qty`` is what may still fill."""

    client_order_id: str
    symbol: str
    side: Side
    remaining_qty: Decimal
    price: Decimal
    adds_exposure: bool


@dataclass(frozen=True, slots=True)
class UnconfirmedFill:
    """A fill applied to positions that no snapshot has shown yet: a snapshot taken before it (read
    after it) gets it applied again on top, until one whose fill clock has passed it arrives."""

    symbol: str
    signed_qty: Decimal
    price: Decimal | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Latch:
    """A latched stop (daily loss, drawdown, not flat in time): REDUCING until an operator resets it."""

    reason: str
    detail: str
    latched_at: datetime


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """One account as the firewall knows it.

    ``positions`` are filled quantities per symbol; ``position_marks`` the broker's last price per
    symbol from the account snapshot (used when no signal price is known).
    """

    account: str
    equity: Decimal | None = None
    buying_power: Decimal | None = None
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    snapshot_as_of: datetime | None = None
    fills_through: datetime | None = None
    """The last snapshot's fill clock (``AccountSnapshot.fills_through``, else its ``as_of``): a fill
    timestamped at or before it is in that snapshot's positions."""
    unconfirmed_fills: tuple[UnconfirmedFill, ...] = ()
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    position_marks: Mapping[str, Decimal] = field(default_factory=dict)
    open_orders: tuple[OpenOrder, ...] = ()
    latches: tuple[Latch, ...] = ()
    recent_approvals: tuple[datetime, ...] = ()
    """Approval times within the last minute (the order-rate window), oldest first."""
    last_approval_by_symbol: Mapping[str, datetime] = field(default_factory=dict)
    """When each symbol last had an exposure-adding approval (the cooldown clock)."""
    filled_by_order: Mapping[str, Decimal] = field(default_factory=dict)
    """Cumulative filled quantity per client_order_id, to turn cumulative fills into deltas."""
    trading_day: date | None = None
    """The New York date the day's starting equity belongs to."""
    flatten_day: date | None = None
    flattened_symbols: tuple[str, ...] = ()
    """Symbols that already got their scheduled closing order on ``flatten_day``."""
    must_be_flat_checked: date | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """The last TA signal for a symbol: its price, when, and the bar volume if known."""

    price: Decimal
    event_ts: datetime
    volume: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarketState:
    marks: Mapping[str, Mark] = field(default_factory=dict)

    def mark(self, symbol: str) -> Mark | None:
        return self.marks.get(symbol)
