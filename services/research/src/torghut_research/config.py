"""The lane's strategy config: the strategy book under test, its parameter grid, and how to test it.

``--strategy-config`` is either a plain signal-trigger strategy book (``version`` + ``strategies``)
or a research config that wraps one::

    version: 1
    book_file: ../signal-trigger-book.yaml      # or `book:` inline; relative to this file
    variants:                                   # optional grid, per strategy id
      macd-rsi-v1: {params.min_separation: [0, 0.02], cooldown_s: [300, 900]}
    walk_forward: {folds: 5, scheme: rolling, test_fraction: 0.5, purge: 5m, embargo: 5m}
    portfolio: {capital: 100000, position_notional: 10000, allow_shorts: false}
    costs: {slippage_bps: 1, default_spread_bps: 4}
    signal_gates: {max_staleness: 5m, max_spread_bps: 50}   # signal-trigger's SIGNAL_* settings
    session: {timezone: America/New_York, open: "09:30", close: "16:00"}
    janus: {event_window_bars: 1, strong_threshold: 0.0025}  # Janus-Q event/CAR and HGRM (janus/settings.py)

Unknown keys are errors, and every error names the file and the key path.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from torghut_strategies.book import StrategyBook, StrategyBookError, parse_strategy_book
from torghut_strategies.engine import EngineConfig
from torghut_strategies.gates import GateConfig
from torghut_strategies.session import TradingSession

from .errors import InputError
from .janus.settings import JanusSettings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _duration(value: Any) -> Any:
    """``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"`` -> timedelta; a bare number is seconds."""
    if isinstance(value, timedelta) or value is None:
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 300, '5m' or '1d'")
    match = _DURATION.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"expected a duration such as 300, '5m' or '1d', got {value!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WalkForward(_Strict):
    folds: int = Field(default=5, ge=1, le=100)
    scheme: Literal["rolling", "anchored"] = "rolling"
    test_fraction: float = Field(default=0.5, gt=0, lt=1)
    """Share of the data's time span that the test windows cover together; the rest is the first train window."""
    purge: Duration = timedelta(0)
    """Gap between a train window's end and its test window's start."""
    embargo: Duration = timedelta(0)
    """Gap left unscored at the start of every test window after the first, so adjacent folds do not share trades."""


class Portfolio(_Strict):
    capital: float = Field(default=100_000, gt=0)
    position_notional: float = Field(default=10_000, gt=0)
    """Dollars held per (strategy, symbol) while a strategy is long (or short)."""
    allow_shorts: bool = False
    """A sell trigger goes short when true, flat when false (the risk firewall's default)."""


class Costs(_Strict):
    """Per fill: commission, half the quoted spread, slippage and market impact (docs/research.md)."""

    commission_bps: float = Field(default=0, ge=0)
    commission_per_share: float = Field(default=0, ge=0)
    min_commission: float = Field(default=0, ge=0)
    slippage_bps: float = Field(default=1, ge=0)
    default_spread_bps: float = Field(default=5, ge=0)
    """Used where a signal carries no quote."""
    impact_bps_at_full_participation: float = Field(default=50, ge=0)
    max_participation_rate: float = Field(default=0.1, gt=0, le=1)


class StressCase(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    spread_multiplier: float = Field(default=1, ge=0)
    slippage_multiplier: float = Field(default=1, ge=0)
    commission_multiplier: float = Field(default=1, ge=0)
    impact_multiplier: float = Field(default=1, ge=0)
    delay_bars: int = Field(default=0, ge=0, le=1000)
    """Each fill happens this many of the symbol's bars after its trigger."""


DEFAULT_STRESS = (
    StressCase(name="spread", spread_multiplier=2),
    StressCase(name="volatility", spread_multiplier=1.5, slippage_multiplier=3),
    StressCase(name="liquidity", spread_multiplier=1.5, impact_multiplier=3, delay_bars=1),
    StressCase(name="halt", spread_multiplier=2, slippage_multiplier=2, commission_multiplier=2, impact_multiplier=2,
               delay_bars=5),
)


class SignalGates(_Strict):
    """signal-trigger's signal gates (its SIGNAL_* settings), with the same defaults."""

    max_staleness: Duration = timedelta(minutes=5)
    require_quote: bool = True
    max_spread_bps: Decimal = Field(default=Decimal(50), ge=0)
    allowed_sources: tuple[str, ...] = ("ta",)

    def gate_config(self) -> GateConfig:
        return GateConfig(max_staleness=self.max_staleness, max_future_skew=None, require_quote=self.require_quote,
                          max_spread_bps=self.max_spread_bps, allowed_sources=frozenset(self.allowed_sources))


class Session(_Strict):
    """signal-trigger's SESSION_* settings."""

    timezone: str = "America/New_York"
    open: time = time(9, 30)
    close: time = time(16, 0)
    holidays: tuple[date, ...] = ()
    early_closes: dict[date, time] = Field(default_factory=dict)

    def trading_session(self) -> TradingSession:
        try:
            session = TradingSession(self.timezone, self.open, self.close, frozenset(self.holidays),
                                     dict(self.early_closes))
            _ = session.zone
        except Exception as exc:  # ZoneInfoNotFoundError and friends
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        return session


class ResearchConfig(_Strict):
    version: Literal[1] = 1
    book: dict[str, Any] | None = None
    book_file: str | None = None
    variants: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    walk_forward: WalkForward = WalkForward()
    portfolio: Portfolio = Portfolio()
    costs: Costs = Costs()
    stress: tuple[StressCase, ...] = DEFAULT_STRESS
    signal_gates: SignalGates = SignalGates()
    session: Session = Session()
    janus: JanusSettings = JanusSettings()

    @model_validator(mode="after")
    def _one_book(self) -> ResearchConfig:
        if (self.book is None) == (self.book_file is None):
            raise ValueError("give the strategy book under test as exactly one of 'book' or 'book_file'")
        return self

    @field_validator("session")
    @classmethod
    def _zone(cls, session: Session) -> Session:
        session.trading_session()
        return session


class Candidate(BaseModel):
    """A strategy config resolved: the book, its variants, and how the lane tests them."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    book: StrategyBook
    variants: tuple[StrategyBook, ...]
    """Every combination of the grid applied to ``book`` (``book`` itself when there is no grid)."""
    settings: ResearchConfig

    def engine_config(self, book: StrategyBook) -> EngineConfig:
        return EngineConfig(book, self.settings.signal_gates.gate_config(), self.settings.session.trading_session())


def load_candidate(path: Path) -> Candidate:
    """The strategy config at ``path``; :class:`InputError` names the file and the key."""
    raw = _read_yaml(path)
    if isinstance(raw, Mapping) and "strategies" in raw:
        raw = {"version": 1, "book": dict(raw)}
    if not isinstance(raw, Mapping):
        raise InputError(f"{path}: expected a mapping (a strategy book or a research config), "
                         f"got {type(raw).__name__}")
    try:
        settings = ResearchConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: invalid strategy config: {describe(exc)}") from None
    if settings.book_file is not None:
        book_path = (path.parent / settings.book_file)
        origin = f"{path}: book_file {book_path}"
        book_raw = _read_yaml(book_path, origin=origin)
    else:
        origin, book_raw = f"{path}: book", settings.book
    try:
        book = parse_strategy_book(book_raw, origin=origin)
        variants = expand_variants(book, settings.variants, origin=f"{path}: variants")
    except StrategyBookError as exc:
        raise InputError(str(exc)) from None
    return Candidate(book=book, variants=variants, settings=settings)


def expand_variants(book: StrategyBook, grid: Mapping[str, Mapping[str, list[Any]]], *,
                    origin: str) -> tuple[StrategyBook, ...]:
    """The cartesian product of every strategy's grid, each combination validated as a whole book."""
    known = {s.id for s in book.strategies}
    axes: list[tuple[str, str, list[Any]]] = []
    for strategy_id, keys in sorted(grid.items()):
        if strategy_id not in known:
            raise StrategyBookError(f"{origin}.{strategy_id}: no strategy with this id in the book")
        for key, values in sorted(keys.items()):
            if not values:
                raise StrategyBookError(f"{origin}.{strategy_id}.{key}: an empty list of values")
            axes.append((strategy_id, key, values))
    if not axes:
        return (book,)
    base = book.model_dump(mode="json")
    variants = []
    for combination in itertools.product(*(values for *_, values in axes)):
        document = _deep_copy(base)
        for (strategy_id, key, _), value in zip(axes, combination, strict=True):
            entry = next(s for s in document["strategies"] if s["id"] == strategy_id)
            *parents, leaf = key.split(".")
            for parent in parents:
                entry = entry.setdefault(parent, {})
                if not isinstance(entry, dict):
                    raise StrategyBookError(f"{origin}.{strategy_id}.{key}: {parent} is not a mapping")
            entry[leaf] = value
        chosen = {f"{strategy_id}.{key}": value for (strategy_id, key, _), value in zip(axes, combination, strict=True)}
        variants.append(parse_strategy_book(document, origin=f"{origin} {chosen}"))
    return tuple(variants)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _read_yaml(path: Path, *, origin: str | None = None) -> Any:
    origin = origin or str(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{origin}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{origin}: not valid YAML: {exc}") from None


def describe(exc: ValidationError) -> str:
    """Every problem of a pydantic error as ``key.path: message``."""
    problems = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-")) or "<document>"
        message = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"]).removeprefix(
            "Value error, ")
        problems.append(f"{path}: {message}")
    return "; ".join(problems)
