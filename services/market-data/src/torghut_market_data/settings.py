"""market-data's settings: every environment variable it reads, with its default.

A bad value stops start-up naming the variable (``load_settings`` raises ``ConfigError``), before
anything connects: a stream without credentials or a file source without a file never half-starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import split_commas

from .domain.frames import SYMBOL


class MarketDataSettings(ServiceSettings):
    service_name: str = Field(default="market-data", min_length=1)

    market_data_source: Literal["alpaca", "file"] = Field(
        default="alpaca", description="alpaca: the live stream (plus backfills); file: publish MARKET_DATA_FILE once.")
    market_data_symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Comma-separated symbol universe (e.g. AAPL,MSFT,BRK.B); required for alpaca.")
    market_data_feed: Literal["iex", "sip"] = Field(default="iex", description="Alpaca feed; SIP needs a plan.")
    market_data_stream_url: str | None = Field(
        default=None, pattern=r"^wss?://", description="Websocket URL override (tests, proxies); default Alpaca's.")
    market_data_rest_url: str | None = Field(
        default=None, pattern=r"^https?://", description="Historical API base URL override (tests, proxies).")
    alpaca_api_key_id: SecretStr | None = None
    alpaca_api_secret_key: SecretStr | None = None
    market_data_quotes: bool = Field(default=True, description="Subscribe to quotes as well as bars.")
    market_data_reconnect_min_s: float = Field(
        default=1.0, gt=0, le=60, description="First reconnect delay; alpaca-py doubles it up to 30 s.")
    market_data_data_timeout_s: float | None = Field(
        default=None, gt=0, description="Reconnect when no market data came for this long (unset: never).")
    market_data_backfill: bool = Field(default=True, description="Fill stream gaps from the historical API.")
    market_data_backfill_max_minutes: int = Field(
        default=390, ge=1, le=10_000, description="Look back at most this many minutes from the bar after a gap.")
    market_data_publish_attempts: int = Field(
        default=5, ge=1, le=100, description="Tries per publish before the frame is counted as lost.")
    market_data_file: Path | None = Field(default=None, description="CSV of bars, for MARKET_DATA_SOURCE=file.")
    market_data_quotes_file: Path | None = Field(
        default=None, description="CSV of quotes (symbol,ts,bid,ask,bid_size,ask_size) published with "
                                  "MARKET_DATA_FILE, the two merged in time order.")
    market_data_file_cursor_every: int = Field(
        default=500, ge=1, le=1_000_000, description="Rows between cursor saves (a crash republishes at most these).")

    @field_validator("market_data_symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("market_data_symbols")
    @classmethod
    def _valid_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not SYMBOL.match(s)]
        if bad:
            raise ValueError(f"not US equity tickers: {', '.join(bad[:5])}")
        return tuple(dict.fromkeys(value))

    @field_validator("market_data_stream_url", "market_data_rest_url", "market_data_file", "market_data_quotes_file",
                     "market_data_data_timeout_s", "alpaca_api_key_id", "alpaca_api_secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent(self) -> MarketDataSettings:
        if self.market_data_source == "alpaca":
            if not self.market_data_symbols:
                raise ValueError("MARKET_DATA_SYMBOLS is required when MARKET_DATA_SOURCE=alpaca")
            if self.alpaca_api_key_id is None or self.alpaca_api_secret_key is None:
                raise ValueError("ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY are required when "
                                 "MARKET_DATA_SOURCE=alpaca")
            if self.market_data_quotes_file is not None:
                raise ValueError("MARKET_DATA_QUOTES_FILE is only read when MARKET_DATA_SOURCE=file")
        elif self.market_data_file is None:
            raise ValueError("MARKET_DATA_FILE is required when MARKET_DATA_SOURCE=file")
        return self

    @property
    def source_label(self) -> str:
        """``MarketBar.source``: which feed the bars came from."""
        return f"alpaca-{self.market_data_feed}" if self.market_data_source == "alpaca" else "file"
