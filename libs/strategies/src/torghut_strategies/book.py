"""The strategy book: declarative strategies, validated before the service starts.

A book is YAML (see ``reference_book.yaml``, signal-trigger's default)::

    version: 1
    strategies:
      - id: macd-rsi-v1
        type: macd_cross
        universe: "*"            # or a list of symbols
        cooldown_s: 300
        allow_outside_session: false
        params: {min_separation: 0}
        filters:
          - {type: rsi_band, buy_max: 70, sell_min: 30}
          - {type: quote_quality, max_spread_bps: 25}

Unknown keys are errors (a typo must not silently fall back to a default), and every error names
the key path, e.g. ``strategies[1].params.oversold_exit``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_TICKER = re.compile(r"[A-Z]{1,5}([.\-/][A-Z]{1,2})?")  # the contracts' Symbol pattern
StrategyId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._\-]{0,99}$")]
Level = Annotated[Decimal, Field(ge=0, le=100)]


class StrategyBookError(ValueError):
    """A strategy book that cannot be used; the message names its origin and every bad key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- filters: usable by any strategy ---------------------------------------------------------------
class QuoteQualityFilter(_Strict):
    """Refuse a trigger unless the signal carries a sane two-sided quote no wider than ``max_spread_bps``."""

    type: Literal["quote_quality"]
    max_spread_bps: Annotated[Decimal, Field(ge=0)]
    require_quote: bool = True


class RsiBandFilter(_Strict):
    """Do not buy into an overbought market nor sell into an oversold one."""

    type: Literal["rsi_band"]
    buy_max: Level = Decimal(70)
    sell_min: Level = Decimal(30)


Filter = Annotated[QuoteQualityFilter | RsiBandFilter, Field(discriminator="type")]


# -- strategies --------------------------------------------------------------------------------------
class MacdCrossParams(_Strict):
    min_separation: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    """|macd - macd_signal| must exceed this for a side to count; inside the band the last side holds."""


class RsiReversionParams(_Strict):
    """Hysteresis: a zone is entered at ``oversold``/``overbought`` and left only past its ``*_exit`` level."""

    oversold: Level = Decimal(30)
    oversold_exit: Level = Decimal(35)
    overbought_exit: Level = Decimal(65)
    overbought: Level = Decimal(70)

    @model_validator(mode="after")
    def _ordered(self) -> RsiReversionParams:
        if not self.oversold < self.oversold_exit < self.overbought_exit < self.overbought:
            raise ValueError("levels must satisfy oversold < oversold_exit < overbought_exit < overbought "
                             f"(got {self.oversold} / {self.oversold_exit} / {self.overbought_exit} / "
                             f"{self.overbought})")
        return self


class _StrategyBase(_Strict):
    id: StrategyId
    version: str = Field(default="1", min_length=1, max_length=32)
    enabled: bool = True
    universe: Literal["*"] | tuple[str, ...]
    """Every symbol (``"*"``) or these tickers."""
    window: str | None = Field(default=None, max_length=16, description="Only signals of this bar window.")
    cooldown_s: Annotated[float, Field(ge=0)] = 60.0
    allow_outside_session: bool = False
    filters: tuple[Filter, ...] = ()

    @field_validator("universe", mode="before")
    @classmethod
    def _universe(cls, value: Any) -> Any:
        if value == "*" or (isinstance(value, list | tuple) and list(value) == ["*"]):
            return "*"
        if not isinstance(value, list | tuple):
            raise ValueError("expected '*' or a list of symbols")
        if not value:
            raise ValueError("an empty universe never fires; use '*' or list symbols")
        bad = [item for item in value if not isinstance(item, str) or not _TICKER.fullmatch(item)]
        if bad:
            raise ValueError(f"not US equity tickers: {', '.join(map(repr, bad))}")
        return tuple(value)

    def applies_to(self, symbol: str, window: str | None) -> bool:
        if not self.enabled or (self.window is not None and window != self.window):
            return False
        return self.universe == "*" or symbol in self.universe


class MacdCrossStrategy(_StrategyBase):
    """Buy when MACD crosses above its signal line, sell when it crosses below."""

    type: Literal["macd_cross"]
    params: MacdCrossParams = MacdCrossParams()


class RsiReversionStrategy(_StrategyBase):
    """Buy on entering the oversold zone, sell on entering the overbought zone (mean reversion)."""

    type: Literal["rsi_reversion"]
    params: RsiReversionParams = RsiReversionParams()


Strategy = Annotated[MacdCrossStrategy | RsiReversionStrategy, Field(discriminator="type")]
STRATEGY_TYPES = ("macd_cross", "rsi_reversion")
FILTER_TYPES = ("quote_quality", "rsi_band")


class StrategyBook(_Strict):
    version: Literal[1]
    strategies: tuple[Strategy, ...]

    @field_validator("strategies")
    @classmethod
    def _unique_ids(cls, strategies: tuple[MacdCrossStrategy | RsiReversionStrategy, ...]) -> Any:
        if not strategies:
            raise ValueError("no strategy: the service would never fire")
        seen: set[str] = set()
        for strategy in strategies:
            if strategy.id in seen:
                raise ValueError(f"strategy id {strategy.id!r} appears twice")
            seen.add(strategy.id)
        return strategies

    def for_symbol(self, symbol: str, window: str | None) -> tuple[MacdCrossStrategy | RsiReversionStrategy, ...]:
        return tuple(s for s in self.strategies if s.applies_to(symbol, window))


def parse_strategy_book(raw: Any, *, origin: str) -> StrategyBook:
    """Validate a loaded YAML document; :class:`StrategyBookError` names ``origin`` and every bad key path."""
    if not isinstance(raw, Mapping):
        raise StrategyBookError(f"{origin}: expected a mapping with 'version' and 'strategies', "
                                f"got {type(raw).__name__}")
    try:
        return StrategyBook.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_key_path(error['loc'])}: {_message(error)}" for error in exc.errors()]
        raise StrategyBookError(f"{origin}: invalid strategy book: " + "; ".join(problems)) from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    """``('strategies', 0, 'macd_cross', 'params', 'x')`` -> ``strategies[0].params.x``."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        previous = loc[index - 1] if index else None
        if part in STRATEGY_TYPES + FILTER_TYPES and isinstance(previous, int):
            continue  # pydantic's discriminator tag, not a key the user wrote
        if part.startswith(("tuple[", "function-")) or part in ("literal['*']",):
            continue
        out += f".{part}" if out else part
    return out or "<document>"


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "union_tag_invalid":
        expected = FILTER_TYPES if "filters" in error["loc"] else STRATEGY_TYPES
        return f"unknown type {error.get('ctx', {}).get('tag')!r}; expected one of {', '.join(expected)}"
    if error["type"] == "union_tag_not_found":
        return "missing 'type'"
    return str(error["msg"]).removeprefix("Value error, ")
