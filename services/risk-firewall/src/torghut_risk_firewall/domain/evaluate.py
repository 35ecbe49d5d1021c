"""``evaluate_order``: one decision against the account, the operator and the market.

The function is pure and deterministic: the same decision, state, limits, market and ``now``
always give the same verdict (``now`` is the event time when replaying). It collects every
failing check instead of stopping at the first, because an operator reading a veto needs the
whole picture, and the audit trail must show all of it.

Checks fall in two kinds:

* *hard* checks (kill switch, trading state, staleness, price collar, windows, cooldown, rate
  limits, ...) veto the order whatever its size;
* *caps* bound the quantity (notional, % of equity, per-symbol position, gross and net
  exposure, buying power, participation, and "reduce only" while REDUCING or after the cutoff).
  With ``clamp_enabled`` the quantity is clamped down (never up) to the tightest cap and the
  clamp is recorded; a clamp that leaves less than the minimum vetoes.

An order is *reduce-only* when it cannot take the position past zero even if every other open
order fills; reduce-only orders are exempt from the per-symbol, gross and buying-power caps and
the cooldown (closing risk must stay possible; they cannot raise those exposures anyway), but
never from the kill switch, HALTED, the rate limits, the price checks or the net cap (closing
one leg of a hedge can push net exposure past it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

from torghut_contracts.enums import OrderType, Side, TradingState
from torghut_contracts.models import Decision
from torghut_contracts.posture import TradingPosture, most_severe

from . import reasons as r
from .exposure import account_exposure, pending_by_symbol, symbol_book
from .ids import client_order_id
from .limits import RiskLimits
from .state import ZERO, MarketState, PortfolioState
from .windows import SessionPhase, session_phase

# Exact for every product of our quantities and prices; divisions round toward -inf so a
# computed maximum quantity can only err on the safe side.
_ARITHMETIC = Context(prec=80, rounding=ROUND_FLOOR)
_BPS = Decimal(10_000)
_ONE_SECOND_WINDOW = 1
_ONE_MINUTE_WINDOW = 60
_WINDOW_REASON = {
    SessionPhase.CUTOFF: r.NEW_EXPOSURE_CUTOFF,
    SessionPhase.FLATTEN: r.FLATTEN_WINDOW,
    SessionPhase.MUST_BE_FLAT: r.MUST_BE_FLAT_WINDOW,
}


@dataclass(frozen=True, slots=True)
class Clamp:
    requested_qty: Decimal
    approved_qty: Decimal
    reason_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The firewall's word on one decision (converted to ``RiskVerdict``/``ApprovedOrder`` on the wire)."""

    approved: bool
    reason_codes: tuple[str, ...]
    side: Side | None
    requested_qty: Decimal
    approved_qty: Decimal
    client_order_id: str
    trading_state: TradingState
    reference_price: Decimal | None
    adds_exposure: bool
    decided_at: datetime
    clamp: Clamp | None = None


def effective_trading_state(control: TradingPosture, portfolio: PortfolioState) -> TradingState:
    """The operator's state, tightened to REDUCING by any latched stop on the account."""
    if portfolio.latches:
        return most_severe(control.trading_state, TradingState.REDUCING)
    return control.trading_state


def reference_price(decision: Decision) -> Decimal | None:
    """The price the order is judged at: the limit price of a limit order, else the decision's."""
    order = decision.intent.order
    if order.order_type is OrderType.LIMIT:
        return order.limit_price
    return decision.reference_price


def _floor_to(qty: Decimal, increment: Decimal) -> Decimal:
    if qty <= ZERO:
        return ZERO
    return (qty / increment).to_integral_value(rounding=ROUND_FLOOR) * increment


def _dedupe(codes: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def evaluate_order(decision: Decision, portfolio: PortfolioState, control: TradingPosture, limits: RiskLimits,
                   market: MarketState, now: datetime) -> Verdict:
    with localcontext(_ARITHMETIC):
        return _evaluate(decision, portfolio, control, limits, market, now)


def _evaluate(decision: Decision, portfolio: PortfolioState, control: TradingPosture, limits: RiskLimits,
              market: MarketState, now: datetime) -> Verdict:
    intent = decision.intent
    derived = limits.derived
    state = effective_trading_state(control, portfolio)
    coid = client_order_id(decision.account, decision.decision_id)
    price = reference_price(decision)
    qty = intent.qty

    def veto(codes: list[str], side: Side | None, adds: bool = True) -> Verdict:
        return Verdict(False, _dedupe(codes), side, qty, ZERO, coid, state, price, adds, now)

    side = intent.action.side
    if side is None:  # a hold places no order
        return veto([r.DECISION_HOLD], None, adds=False)
    hard: list[str] = []

    # -- identity and posture ----------------------------------------------------------------
    if decision.account != portfolio.account:
        hard.append(r.ACCOUNT_MISMATCH)
    if control.kill_switch:
        hard.append(r.KILL_SWITCH_ENABLED)
    if state is TradingState.HALTED:
        hard.append(r.TRADING_HALTED)

    # -- the order itself ----------------------------------------------------------------------
    increment = derived.qty_increment
    qty_ok = qty.is_finite() and qty > ZERO
    if not qty_ok:
        hard.append(r.QTY_NON_POSITIVE)
    elif not limits.allow_fractional and qty != qty.to_integral_value():
        hard.append(r.FRACTIONAL_NOT_ALLOWED)
    elif qty % increment != ZERO:
        hard.append(r.QTY_INVALID_INCREMENT)
    price_ok = price is not None and price.is_finite() and price > ZERO
    if price is None:
        hard.append(r.REFERENCE_PRICE_MISSING)
    elif not price_ok:
        hard.append(r.REFERENCE_PRICE_INVALID)
    symbol = decision.symbol
    if symbol in derived.denied or (derived.allowed is not None and symbol not in derived.allowed):
        hard.append(r.SYMBOL_NOT_ALLOWED)
    if intent.order.extended_hours and not limits.allow_extended_hours:
        hard.append(r.EXTENDED_HOURS_NOT_ALLOWED)

    # -- time ----------------------------------------------------------------------------------
    skew = derived.max_clock_skew
    if now - decision.signal_event_ts > derived.max_decision_age:
        hard.append(r.DECISION_STALE)
    if decision.signal_event_ts - now > skew or decision.decided_at - now > skew:
        hard.append(r.DECISION_FROM_FUTURE)
    phase = session_phase(now, limits) if limits.enforce_trading_windows else SessionPhase.OPEN
    if phase is SessionPhase.CLOSED:
        hard.append(r.MARKET_CLOSED)

    # -- market data ---------------------------------------------------------------------------
    mark = market.marks.get(symbol)
    if mark is None:
        hard.append(r.MARKET_PRICE_UNKNOWN)
    else:
        if now - mark.event_ts > derived.max_market_data_age:
            hard.append(r.MARKET_DATA_STALE)
        if price_ok and abs(price - mark.price) * _BPS > limits.price_collar_bps * mark.price:  # type: ignore[operator]
            hard.append(r.PRICE_OUTSIDE_COLLAR)

    equity = portfolio.equity
    equity_ok = equity is not None and equity.is_finite() and equity > ZERO
    if not equity_ok:
        hard.append(r.EQUITY_UNKNOWN)
    if not (qty_ok and price_ok):
        return veto(hard, side)
    assert price is not None

    # -- reduce-only requirements (clampable to what can be reduced) ---------------------------
    pending = pending_by_symbol(portfolio.open_orders)
    book = symbol_book(portfolio, pending, symbol)
    room = book.reduce_room(side)
    must_reduce: list[str] = []
    if state is TradingState.REDUCING:
        must_reduce.append(r.TRADING_STATE_REDUCING)
        must_reduce.extend(latch.reason for latch in portfolio.latches)
    if phase in _WINDOW_REASON:
        must_reduce.append(_WINDOW_REASON[phase])
    caps: list[tuple[str, Decimal]] = []
    for code in must_reduce:
        (caps.append((code, room)) if room > ZERO else hard.append(code))
    if side is Side.SELL and not limits.allow_shorts:
        (caps.append((r.SHORTS_NOT_ALLOWED, room)) if room > ZERO else hard.append(r.SHORTS_NOT_ALLOWED))
    reduce_capped = min([qty, *(cap for _, cap in caps)])
    adds = reduce_capped > room

    # -- per-order caps ------------------------------------------------------------------------
    caps.append((r.NOTIONAL_EXCEEDS_MAX, limits.max_notional_per_trade / price))
    if equity_ok:
        assert equity is not None
        caps.append((r.ORDER_EXCEEDS_PCT_EQUITY, limits.max_order_pct_equity * equity / price))
    if limits.max_participation_rate is not None:
        if mark is not None and mark.volume is not None:
            caps.append((r.PARTICIPATION_EXCEEDS_MAX, limits.max_participation_rate * mark.volume))
        elif limits.participation_requires_volume:
            hard.append(r.PARTICIPATION_VOLUME_UNKNOWN)
    if qty * price < limits.min_notional_per_trade:
        hard.append(r.NOTIONAL_BELOW_MIN)

    # -- account caps ------------------------------------------------------------------------------
    exposure = account_exposure(portfolio, market, pending) if equity_ok and mark is not None else None
    if exposure is not None:
        assert equity is not None and mark is not None
        # Net applies to every order: closing one leg of a hedge can push net exposure past the cap.
        net_limit = limits.max_net_exposure_pct_equity * equity
        m = mark.price
        caps.append((r.NET_EXPOSURE_EXCEEDS_MAX, (net_limit - exposure.net_hi) / m if side is Side.BUY
                     else (exposure.net_lo + net_limit) / m))
    if adds:
        max_snapshot_age = derived.max_account_snapshot_age
        if max_snapshot_age is not None and (portfolio.snapshot_as_of is None
                                             or now - portfolio.snapshot_as_of > max_snapshot_age):
            hard.append(r.ACCOUNT_SNAPSHOT_STALE)
        cooldown = derived.cooldown
        last = portfolio.last_approval_by_symbol.get(symbol)
        if cooldown is not None and last is not None and now - last < cooldown:
            hard.append(r.COOLDOWN_ACTIVE)
        if exposure is not None:
            assert equity is not None and mark is not None
            if exposure.unmarked:
                hard.append(r.EXPOSURE_MARK_UNKNOWN)
            m = mark.price
            hi, lo, worst = book.hi, book.lo, book.worst_abs
            symbol_limit = limits.max_position_pct_equity * equity / m
            caps.append((r.POSITION_EXCEEDS_MAX, symbol_limit - hi if side is Side.BUY else symbol_limit + lo))
            headroom = limits.max_gross_exposure_pct_equity * equity - exposure.gross
            gross_cap = ZERO if headroom < ZERO else worst + headroom / m + (-hi if side is Side.BUY else lo)
            caps.append((r.GROSS_EXPOSURE_EXCEEDS_MAX, gross_cap))
            power = portfolio.buying_power or ZERO
            available = power * derived.reserve_factor - exposure.reserved_buying_power
            caps.append((r.INSUFFICIENT_BUYING_POWER, available / price))

    # -- order rate: denies, never queues --------------------------------------------------------
    per_second = per_minute = 0
    for at in reversed(portfolio.recent_approvals):
        elapsed = (now - at).total_seconds()
        if elapsed >= _ONE_MINUTE_WINDOW:
            break
        per_minute += 1  # an approval stamped after ``now`` (out-of-order replay) counts: fail closed
        if elapsed < _ONE_SECOND_WINDOW:
            per_second += 1
    if per_second >= limits.max_orders_per_second:
        hard.append(r.RATE_LIMIT_PER_SECOND)
    if per_minute >= limits.max_orders_per_minute:
        hard.append(r.RATE_LIMIT_PER_MINUTE)

    # -- the outcome -------------------------------------------------------------------------------
    binding = [code for code, cap in caps if cap < qty]
    if hard:
        return veto(hard + binding, side, adds)
    approved = _floor_to(min([qty, *(cap for _, cap in caps)]), increment)
    clamp: Clamp | None = None
    if approved < qty:
        if not limits.clamp_enabled:
            return veto(binding, side, adds)
        if approved <= ZERO or approved * price < limits.min_notional_per_trade:
            return veto([*binding, r.QTY_BELOW_MIN_AFTER_CLAMP], side, adds)
        clamp = Clamp(qty, approved, _dedupe(binding))
    adds = approved > room
    if side is Side.SELL and adds and approved != approved.to_integral_value():
        return veto([r.FRACTIONAL_SHORT_NOT_ALLOWED], side, adds)
    return Verdict(True, (), side, qty, approved, coid, state, price, adds, now, clamp)


def lacks_fresh_mark(market: MarketState, symbol: str, limits: RiskLimits, now: datetime) -> bool:
    """Whether ``symbol``'s mark is missing or too old to judge on: the market-data veto would apply."""
    mark = market.marks.get(symbol)
    return mark is None or now - mark.event_ts > limits.derived.max_market_data_age
