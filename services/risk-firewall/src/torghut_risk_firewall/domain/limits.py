"""Every risk limit in one typed, immutable object.

The firewall reads its limits once at start-up (a YAML/JSON file named by ``RISK_LIMITS_FILE``,
overridden key by key by ``RISK_LIMITS__<KEY>`` environment variables; see settings.py), and a
malformed or unknown key stops start-up. docs/risk-limits.md documents each default and why.
Unknown keys are refused rather than ignored: a misspelt limit that silently keeps its default is
a limit the operator believes is in force and is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Fraction = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]

_SYMBOL = r"^[A-Z]{1,5}([.\-/][A-Z]{1,2})?$"


class RiskLimits(BaseModel):
    """The limits the pure core checks every order against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- size per order -------------------------------------------------------------------
    min_notional_per_trade: Money = Field(default=Decimal("1"), description="USD; an order below it is vetoed.")
    max_notional_per_trade: Money = Field(default=Decimal("10000"), description="USD per order (all orders).")
    max_order_pct_equity: Fraction = Field(default=Decimal("0.10"), le=1,
                                           description="One order's notional as a fraction of equity.")
    allow_fractional: bool = Field(default=False, description="Fractional quantities (longs only, as Alpaca).")
    fractional_increment: Decimal = Field(default=Decimal("0.000000001"), gt=0, le=1, allow_inf_nan=False,
                                          description="Quantity step when fractional shares are allowed.")
    allow_shorts: bool = Field(default=False, description="May a sell take the position below zero?")
    allowed_symbols: tuple[str, ...] | None = Field(
        default=None, description="Symbol allowlist; null lets every US equity ticker through.")
    denied_symbols: tuple[str, ...] = Field(default=(), description="Never traded, even when allowlisted.")
    allow_extended_hours: bool = Field(default=False, description="Orders flagged extended_hours.")
    clamp_enabled: bool = Field(default=True,
                                description="Clamp quantity down to fit the caps instead of vetoing the order.")

    # -- market data and staleness --------------------------------------------------------
    max_decision_age_s: Decimal = Field(default=Decimal("60"), gt=0, allow_inf_nan=False,
                                        description="now - decision.signal_event_ts above this is stale.")
    max_clock_skew_s: Decimal = Field(default=Decimal("5"), ge=0, allow_inf_nan=False,
                                      description="How far in the future a decision's timestamps may be.")
    max_market_data_age_s: Decimal = Field(default=Decimal("120"), gt=0, allow_inf_nan=False,
                                           description="The last signal price older than this is stale.")
    price_collar_bps: Decimal = Field(default=Decimal("150"), gt=0, allow_inf_nan=False,
                                      description="Max distance of the order's price from the last signal price.")
    max_participation_rate: Fraction | None = Field(
        default=Decimal("0.10"), le=1, description="qty / last bar volume; null disables the check.")
    participation_requires_volume: bool = Field(
        default=False, description="Veto when no volume is known (true) or skip the check (false).")
    max_account_snapshot_age_s: Decimal | None = Field(
        default=Decimal("900"), gt=0, allow_inf_nan=False,
        description="Exposure-adding orders need an account snapshot at most this old; null disables.")

    # -- the account ----------------------------------------------------------------------
    max_position_pct_equity: Fraction = Field(default=Decimal("0.20"), le=1,
                                              description="Worst-case |position| x mark per symbol.")
    max_gross_exposure_pct_equity: Fraction = Field(default=Decimal("1.0"), le=4,
                                                    description="Sum of worst-case |position| x mark.")
    max_net_exposure_pct_equity: Fraction = Field(default=Decimal("0.50"), le=4,
                                                  description="|Net long - short| x mark, both bounds.")
    buying_power_reserve_bps: Decimal = Field(default=Decimal("1000"), ge=0, lt=10000, allow_inf_nan=False,
                                              description="Buying power kept in reserve, in basis points.")
    daily_loss_stop_pct_equity: Fraction = Field(default=Decimal("0.01"), le=1,
                                                 description="Loss since the day's start that latches REDUCING.")
    drawdown_stop_pct_equity: Fraction = Field(default=Decimal("0.05"), le=1,
                                               description="Drop from the equity high-water mark that latches.")
    cooldown_s: Decimal = Field(default=Decimal("60"), ge=0, allow_inf_nan=False,
                                description="Seconds after an approval before the symbol may add exposure again.")
    max_orders_per_second: int = Field(default=3, ge=1, description="Approvals per rolling second.")
    max_orders_per_minute: int = Field(default=120, ge=1, lt=200,
                                       description="Approvals per rolling minute (Alpaca allows 200 requests).")

    # -- trading windows (America/New_York) ------------------------------------------------
    enforce_trading_windows: bool = Field(
        default=True, description="Apply the session, cutoff, flatten and must-be-flat windows (off only for demos).")
    session_open_et: time = Field(default=time(9, 30))
    session_close_et: time = Field(default=time(16, 0))
    new_exposure_cutoff_et: time = Field(default=time(15, 30), description="No new exposure from this time.")
    flatten_start_et: time = Field(default=time(15, 45), description="Firewall emits closing orders.")
    flat_confirmation_et: time = Field(default=time(15, 50), description="Any position left latches a stop.")
    scheduled_flatten_enabled: bool = Field(default=True,
                                            description="Emit closing orders for every position at flatten_start.")

    @cached_property
    def derived(self) -> DerivedLimits:
        """Values the core needs in its hot path, computed once (timedeltas, symbol sets, increment)."""
        def seconds(value: Decimal | None) -> timedelta | None:
            return None if value is None else timedelta(seconds=float(value))

        return DerivedLimits(
            max_decision_age=timedelta(seconds=float(self.max_decision_age_s)),
            max_clock_skew=timedelta(seconds=float(self.max_clock_skew_s)),
            max_market_data_age=timedelta(seconds=float(self.max_market_data_age_s)),
            max_account_snapshot_age=seconds(self.max_account_snapshot_age_s),
            cooldown=seconds(self.cooldown_s) if self.cooldown_s > 0 else None,
            allowed=None if self.allowed_symbols is None else frozenset(self.allowed_symbols),
            denied=frozenset(self.denied_symbols),
            qty_increment=self.fractional_increment if self.allow_fractional else Decimal(1),
            reserve_factor=(Decimal(10_000) - self.buying_power_reserve_bps) / Decimal(10_000),
        )

    @field_validator("allowed_symbols", "denied_symbols")
    @classmethod
    def _tickers(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        import re

        if value is None:
            return None
        bad = [s for s in value if not re.match(_SYMBOL, s)]
        if bad:
            raise ValueError(f"not US equity tickers: {', '.join(bad)}")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        if self.min_notional_per_trade > self.max_notional_per_trade:
            raise ValueError("min_notional_per_trade must not exceed max_notional_per_trade")
        if self.max_orders_per_second > self.max_orders_per_minute:
            raise ValueError("max_orders_per_second must not exceed max_orders_per_minute")
        order = [("session_open_et", self.session_open_et), ("new_exposure_cutoff_et", self.new_exposure_cutoff_et),
                 ("flatten_start_et", self.flatten_start_et), ("flat_confirmation_et", self.flat_confirmation_et),
                 ("session_close_et", self.session_close_et)]
        for (a, ta), (b, tb) in pairwise(order):
            if ta > tb:
                raise ValueError(f"{a} ({ta}) must not be later than {b} ({tb})")
        return self

    @property
    def qty_increment(self) -> Decimal:
        return self.derived.qty_increment


@dataclass(frozen=True, slots=True)
class DerivedLimits:
    max_decision_age: timedelta
    max_clock_skew: timedelta
    max_market_data_age: timedelta
    max_account_snapshot_age: timedelta | None
    cooldown: timedelta | None
    allowed: frozenset[str] | None
    denied: frozenset[str]
    qty_increment: Decimal
    reserve_factor: Decimal
