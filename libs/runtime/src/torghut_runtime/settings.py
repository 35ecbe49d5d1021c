"""Settings from the environment.

Every service subclasses :class:`ServiceSettings`. A missing or malformed variable stops start-up
with :class:`ConfigError`, whose message names the environment variable, because a trading
service that guesses its configuration is worse than one that does not start.

A renamed variable keeps working under its old name (:class:`RenamedVariable`): the service reads it,
logs a deprecation warning at start-up naming the new one, and refuses to start when the old and the
new name are both set and disagree, because guessing which one the operator meant is guessing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ConfigError(RuntimeError):
    """Start-up configuration is missing or malformed; the message names every bad variable."""


Clock = Literal["wall", "event"]
"""The time a service judges its time-dependent rules at (the ``CLOCK`` variable): ``wall`` the
clock (live), ``event`` each message's own event time (replaying a recorded session, a backtest).
One name and one pair of values for every service, so a replay is switched the same way everywhere."""

JudgingClock = Callable[[datetime], datetime]
"""The time to judge an event at, given the event's own time (:func:`judging_clock`)."""


def judging_clock(mode: Clock) -> JudgingClock:
    """``event``: the event's own time, so a replay is judged as the recorded session was; ``wall``:
    the wall clock's, so a backlog of old events is judged as old."""
    if mode == "event":
        return lambda event_time: event_time
    return lambda _event_time: datetime.now(UTC)


def split_commas(value: Any) -> Any:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: how a list is written in one environment variable. Any other
    value (a list from code or a file) is left for the field's own validation."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaSeparated = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]
"""A tuple of strings read from one comma-separated variable (``TORGHUT_ACCOUNTS=a,b``), not JSON."""


def known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(known_time_zone)]
"""An IANA time zone name (``America/New_York``) this machine's zone database knows."""


@dataclass(frozen=True)
class RenamedVariable:
    """An environment variable that was renamed: the old name is still read, as deprecated.

    ``values`` maps every value the old variable took to the new variable's value (the identity when
    only the name changed); any other value stops start-up naming the old variable.
    """

    old: str
    new: str
    values: Mapping[str, str]

    @property
    def field(self) -> str:
        """The settings field the new variable sets."""
        return self.new.lower()


def renamed_clock(old: str, *, wall: str = "wall", event: str = "event") -> RenamedVariable:
    """A service's former name for ``CLOCK``; ``wall`` and ``event`` are its former words for those values."""
    return RenamedVariable(old, "CLOCK", {wall: "wall", event: "event"})


def fold_renamed_variables(owner: str, renamed: tuple[RenamedVariable, ...], data: dict[str, Any],
                           environ: Mapping[str, str]) -> tuple[dict[str, Any], tuple[RenamedVariable, ...]]:
    """The settings input with each old variable's value moved to its new field, and the old names in use.

    An old variable is read from the keyword arguments (its lower-case name) or else the environment
    (any case, as pydantic-settings reads it). Set together with its new name to a different value,
    or to a value it never took, it raises :class:`ConfigError` naming the variables.
    """
    upper_environ = {name.upper(): value for name, value in environ.items()}
    folded, in_use = dict(data), []
    for variable in renamed:
        old_value = folded.pop(variable.old.lower(), None)
        if old_value is None:
            old_value = upper_environ.get(variable.old.upper())
        if old_value is None:
            continue
        value = variable.values.get(str(old_value))
        if value is None:
            raise ConfigError(f"{owner}: {variable.old} {str(old_value)!r} is not one of {sorted(variable.values)} "
                              f"({variable.old} is deprecated: set {variable.new} instead)")
        current = folded.get(variable.field)
        if current is not None and str(current) != value:
            raise ConfigError(f"{owner}: {variable.new}={str(current)!r} and the deprecated {variable.old}="
                              f"{str(old_value)!r} (meaning {variable.new}={value!r}) disagree: "
                              f"set only {variable.new}")
        folded[variable.field] = value
        in_use.append(variable)
    return folded, tuple(in_use)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True, case_sensitive=False)

    service_name: str = Field(default="torghut", min_length=1)
    kafka_bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port]")
    database_url: str = Field(min_length=1, pattern=r"^postgresql(\+asyncpg)?://",
                              description="postgresql+asyncpg://user:pass@host:port/db")
    db_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                                  description="Postgres schema this service owns; defaults to its name.")
    topic_prefix: str = Field(default="", pattern=r"^([a-z0-9_\-]+\.)*$",
                              description="Prefix on every topic, e.g. 'sandbox.replay1.' to re-run a copy.")
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    otel_exporter_otlp_endpoint: str | None = None
    consumer_max_attempts: int = Field(default=5, ge=1, le=100,
                                       description="Tries before a failing message goes to its DLQ.")
    consumer_retry_backoff_ms: int = Field(default=200, ge=0, le=60_000)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=500)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_fetch_max_wait_ms: int = Field(default=50, ge=0, le=5_000)
    kafka_fetch_min_bytes: int = Field(
        default=1, ge=1, le=50 * 1024 * 1024,
        description="The broker holds a fetch until this many bytes are there (or KAFKA_FETCH_MAX_WAIT_MS passed): "
                    "1 answers at once; more trades latency for fewer, larger batches (the operator console).")
    kafka_max_batch: int = Field(default=500, ge=1, le=10_000,
                                 description="Records per transaction on high-volume topics (TA signals).")
    consumer_group_commit: int = Field(
        default=64, ge=1, le=10_000,
        description="Records of a group-commit topic (decisions, orders, triggers) handled in one transaction "
                    "when a fetch brings several; 1 gives each record a transaction of its own.")
    kafka_auto_offset_reset: str = Field(default="earliest", pattern=r"^(earliest|latest)$")
    processed_retention_days: float = Field(
        default=35.0, gt=0, description="Tracking records older than this are pruned (keep >= topic retention).")
    database_pool_size: int = Field(default=5, ge=1, le=200, description="Pooled Postgres connections.")
    database_max_overflow: int = Field(default=10, ge=0, le=200,
                                       description="Connections opened past the pool when it is exhausted.")
    database_pool_timeout_s: float = Field(default=30.0, gt=0, le=600,
                                           description="How long a checkout waits for a free connection.")
    graceful_timeout_s: float = Field(default=15.0, gt=0)

    #: Former names of this service's variables, still read (see :class:`RenamedVariable`).
    renamed_variables: ClassVar[tuple[RenamedVariable, ...]] = ()
    _renamed_in_use: tuple[RenamedVariable, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _read_renamed_variables(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if not cls.renamed_variables or not isinstance(data, dict):
            return handler(data)
        data, in_use = fold_renamed_variables(cls.__name__, cls.renamed_variables, data, os.environ)
        settings = handler(data)
        settings._renamed_in_use = in_use
        return settings

    @property
    def renamed_variables_in_use(self) -> tuple[RenamedVariable, ...]:
        """The deprecated names this configuration was given: warned about at start-up."""
        return self._renamed_in_use

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.service_name.replace("-", "_")

    def topic_name(self, name: str) -> str:
        return self.topic_prefix + name


def _env_name(settings_cls: type[BaseSettings], location: tuple[Any, ...]) -> str:
    if not location:
        return "<settings>"
    prefix = str(settings_cls.model_config.get("env_prefix", "") or "")
    field = str(location[0])
    return (prefix + field).upper() + ("." + ".".join(map(str, location[1:])) if len(location) > 1 else "")


def load_settings(settings_cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment, or raise :class:`ConfigError` naming each bad variable."""
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = _env_name(settings_cls, tuple(error.get("loc", ())))
            problem = "is required but not set" if error["type"] == "missing" else error["msg"]
            value = error.get("input")
            shown = "" if error["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
            lines.append(f"{name} {problem}{shown}")
        raise ConfigError(f"{settings_cls.__name__}: " + "; ".join(lines)) from None
