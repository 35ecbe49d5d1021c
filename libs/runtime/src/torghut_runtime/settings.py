"""Settings from the environment.

Every service subclasses :class:`ServiceSettings`. A missing or malformed variable stops start-up
with :class:`ConfigError`, whose message names the environment variable, because a trading
service that guesses its configuration is worse than one that does not start.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ConfigError(RuntimeError):
    """Start-up configuration is missing or malformed; the message names every bad variable."""


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
    kafka_max_batch: int = Field(default=500, ge=1, le=10_000,
                                 description="Records per transaction on high-volume topics (TA signals).")
    kafka_auto_offset_reset: str = Field(default="earliest", pattern=r"^(earliest|latest)$")
    processed_retention_days: float = Field(
        default=35.0, gt=0, description="Tracking records older than this are pruned (keep >= topic retention).")
    graceful_timeout_s: float = Field(default=15.0, gt=0)

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
