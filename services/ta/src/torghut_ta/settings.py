"""ta's settings: every environment variable it reads, with its default."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import TimeZoneName, split_commas

from .domain.series import Rules
from .domain.vwap import SessionHours


class TaSettings(ServiceSettings):
    service_name: str = Field(default="ta", min_length=1)

    ta_symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated universe; bars of other symbols are skipped (unknown_symbol). "
                                "Empty: every symbol.")
    ta_quote_max_age_s: float = Field(
        default=15.0, ge=0, description="A signal carries a quote stamped at most this long before its bar's close.")
    ta_vwap_window_s: int = Field(default=300, gt=0, description="Span of vwap_w5m: bars starting this recently.")
    ta_signal_source: str = Field(default="ta", min_length=1, max_length=64, description="TaSignal.source.")
    ta_session_timezone: TimeZoneName = Field(default="America/New_York", description="Exchange time zone (IANA name).")
    ta_session_open: time = Field(default=time(9, 30), description="Regular session open (session VWAP resets).")
    ta_session_close: time = Field(default=time(16, 0), description="Regular session close, exchange time.")
    ta_state_cache_series: int = Field(
        default=1000, ge=0, description="Series states kept in memory between batches, so a batch need not "
                                        "unpickle what this process committed (about 27 KB each); 0: none.")

    @field_validator("ta_symbols", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return tuple(part.upper() for part in split_commas(value)) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> TaSettings:
        if self.ta_session_open >= self.ta_session_close:
            raise ValueError("TA_SESSION_OPEN must be before TA_SESSION_CLOSE")
        return self

    def rules(self) -> Rules:
        """The domain's rules, as these settings decide them."""
        return Rules(
            universe=frozenset(self.ta_symbols) or None,
            quote_max_age=timedelta(seconds=self.ta_quote_max_age_s),
            session=SessionHours(self.ta_session_timezone, self.ta_session_open, self.ta_session_close),
            vwap_span=timedelta(seconds=self.ta_vwap_window_s),
            source=self.ta_signal_source,
        )
