"""Machine-readable reason codes, one per failing check.

A veto lists every failing check, not the first. The codes are stable strings (audit, metrics
and dashboards key on them); docs/risk-limits.md lists each with the limit behind it. Where
upstream Torghut or NautilusTrader already had a name for the same check, the name is kept.
"""

from __future__ import annotations

# -- the decision itself --------------------------------------------------------------------
DECISION_HOLD = "decision_hold"
ACCOUNT_MISMATCH = "account_mismatch"
ACCOUNT_NOT_MANAGED = "account_not_managed"
QTY_NON_POSITIVE = "qty_non_positive"
QTY_INVALID_INCREMENT = "qty_invalid_increment"
FRACTIONAL_NOT_ALLOWED = "fractional_not_allowed"
FRACTIONAL_SHORT_NOT_ALLOWED = "fractional_short_not_allowed"
REFERENCE_PRICE_MISSING = "reference_price_missing"
REFERENCE_PRICE_INVALID = "reference_price_invalid"
SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
EXTENDED_HOURS_NOT_ALLOWED = "extended_hours_not_allowed"
DECISION_STALE = "decision_stale"
DECISION_FROM_FUTURE = "decision_timestamp_in_future"

# -- operator posture -----------------------------------------------------------------------
KILL_SWITCH_ENABLED = "kill_switch_enabled"
TRADING_HALTED = "trading_halted"
TRADING_STATE_REDUCING = "trading_state_reducing"

# -- market data ----------------------------------------------------------------------------
MARKET_PRICE_UNKNOWN = "market_price_unknown"
MARKET_DATA_STALE = "market_data_stale"
PRICE_OUTSIDE_COLLAR = "price_outside_collar"
PARTICIPATION_EXCEEDS_MAX = "participation_exceeds_max"
PARTICIPATION_VOLUME_UNKNOWN = "participation_volume_unknown"
EXPOSURE_MARK_UNKNOWN = "exposure_mark_unknown"

# -- size per order -------------------------------------------------------------------------
NOTIONAL_BELOW_MIN = "min_notional_not_met"
NOTIONAL_EXCEEDS_MAX = "max_notional_exceeded"
ORDER_EXCEEDS_PCT_EQUITY = "max_order_pct_equity_exceeded"
QTY_BELOW_MIN_AFTER_CLAMP = "qty_below_min_after_clamp"
SHORTS_NOT_ALLOWED = "shorts_not_allowed"

# -- the account ----------------------------------------------------------------------------
EQUITY_UNKNOWN = "equity_unknown"
ACCOUNT_SNAPSHOT_STALE = "account_snapshot_stale"
POSITION_EXCEEDS_MAX = "max_symbol_exposure_exceeded"
GROSS_EXPOSURE_EXCEEDS_MAX = "max_gross_exposure_exceeded"
NET_EXPOSURE_EXCEEDS_MAX = "max_net_exposure_exceeded"
INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
DAILY_LOSS_STOP = "daily_loss_stop"
DRAWDOWN_STOP = "drawdown_stop"
MUST_BE_FLAT_BREACHED = "must_be_flat_breached"
COOLDOWN_ACTIVE = "cooldown_active"
RATE_LIMIT_PER_SECOND = "rate_limit_exceeded_per_second"
RATE_LIMIT_PER_MINUTE = "rate_limit_exceeded_per_minute"

# -- trading windows ------------------------------------------------------------------------
MARKET_CLOSED = "market_closed"
NEW_EXPOSURE_CUTOFF = "new_exposure_cutoff_active"
FLATTEN_WINDOW = "flatten_window_active"
MUST_BE_FLAT_WINDOW = "must_be_flat_window"

# -- orders the firewall itself emits -------------------------------------------------------
SCHEDULED_FLATTEN = "scheduled_flatten"

LATCH_REASONS = frozenset({DAILY_LOSS_STOP, DRAWDOWN_STOP, MUST_BE_FLAT_BREACHED})
"""Latched stops: each switches the account to REDUCING until an operator resets it."""
