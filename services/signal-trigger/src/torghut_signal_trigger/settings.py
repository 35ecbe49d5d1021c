"""signal-trigger's settings: every environment variable it reads, with its default."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import Clock, TimeZoneName, renamed_clock, split_commas
from torghut_strategies.gates import GateConfig
from torghut_strategies.session import TradingSession


class SignalTriggerSettings(ServiceSettings):
    renamed_variables = (renamed_clock("TRIGGER_MODE", wall="live", event="replay"),)

    service_name: str = Field(default="signal-trigger", min_length=1)

    strategies_path: Path | None = Field(
        default=None, description="YAML strategy book; the reference book of torghut_strategies when unset.")
    signal_source: Literal["kafka", "clickhouse"] = Field(
        default="kafka", description="kafka: consume torghut.ta.signals.v1; clickhouse: poll CLICKHOUSE_TABLE.")
    clock: Clock = Field(
        default="wall", description="wall (live): staleness against the wall clock; event (replay): against the "
                                    "stream watermark, no future check. Formerly TRIGGER_MODE=live|replay.")

    signal_max_staleness_ms: int = Field(default=300_000, ge=0, description="Older signals are gated as stale.")
    signal_max_future_skew_ms: int = Field(
        default=5_000, ge=0, description="CLOCK=wall: signals stamped further in the future are gated.")
    signal_require_quote: bool = Field(default=True, description="Gate signals without a two-sided quote.")
    signal_max_spread_bps: Decimal = Field(default=Decimal(50), ge=0, description="Gate wider quoted spreads.")
    signal_allowed_sources: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("ta",), description="Comma-separated TaSignal.source values to act on; empty accepts all.")

    session_timezone: TimeZoneName = Field(default="America/New_York", description="Exchange time zone (IANA name).")
    session_open: time = Field(default=time(9, 30), description="Regular session open, exchange time (HH:MM).")
    session_close: time = Field(default=time(16, 0), description="Regular session close, exchange time (HH:MM).")
    session_holidays: Annotated[tuple[date, ...], NoDecode] = Field(
        default=(), description="Comma-separated exchange holidays (YYYY-MM-DD): no session those days.")
    session_early_closes: Annotated[dict[date, time], NoDecode] = Field(
        default_factory=dict, description="Comma-separated early closes, YYYY-MM-DD@HH:MM (e.g. 2026-11-27@13:00).")

    clickhouse_url: str | None = Field(
        default=None, pattern=r"^clickhouses?://",
        description="clickhouse://user:password@host:9000/database (native protocol), for SIGNAL_SOURCE=clickhouse.")
    clickhouse_table: str = Field(default="ta_signals", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clickhouse_price_table: str | None = Field(
        default="ta_microbars", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Microbar table whose close is the signal price when the signal table has no price column.")
    clickhouse_batch_size: int = Field(default=500, ge=1, le=100_000)
    clickhouse_poll_interval_s: float = Field(default=5.0, gt=0)
    clickhouse_allowed_lateness_s: int = Field(
        default=2, ge=0, description="Rows newer than the table's latest event_ts minus this wait for the next poll.")
    clickhouse_start_lookback_min: int = Field(
        default=15, ge=0, description="First run without a cursor (CLOCK=wall): start this far before now.")
    clickhouse_start_at: datetime | None = Field(
        default=None, description="First run without a cursor: start here (CLOCK=event default: the beginning).")
    clickhouse_query_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("signal_allowed_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("session_holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("session_early_closes", mode="before")
    @classmethod
    def _early_closes(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out: dict[str, str] = {}
        for item in split_commas(value):
            day, sep, closes = item.partition("@")
            if not sep:
                raise ValueError(f"expected YYYY-MM-DD@HH:MM, got {item!r}")
            out[day] = closes
        return out

    @field_validator("clickhouse_price_table", "strategies_path", "clickhouse_url", "clickhouse_start_at",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("clickhouse_start_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-02-12T14:30:00Z")
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> SignalTriggerSettings:
        if self.session_open >= self.session_close:
            raise ValueError("SESSION_OPEN must be before SESSION_CLOSE")
        if self.signal_source == "clickhouse" and not self.clickhouse_url:
            raise ValueError("CLICKHOUSE_URL is required when SIGNAL_SOURCE=clickhouse")
        return self

    def gate_config(self) -> GateConfig:
        return GateConfig(
            max_staleness=timedelta(milliseconds=self.signal_max_staleness_ms),
            max_future_skew=timedelta(milliseconds=self.signal_max_future_skew_ms)
            if self.clock == "wall" else None,
            require_quote=self.signal_require_quote,
            max_spread_bps=self.signal_max_spread_bps,
            allowed_sources=frozenset(self.signal_allowed_sources),
        )

    def trading_session(self) -> TradingSession:
        return TradingSession(timezone=self.session_timezone, opens=self.session_open, closes=self.session_close,
                              holidays=frozenset(self.session_holidays), early_closes=dict(self.session_early_closes))
