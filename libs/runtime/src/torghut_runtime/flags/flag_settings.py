"""``TRADING_FEATURE_FLAGS_*``: whether flags are on, where the flag server is and how to ask it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..settings import load_settings


class FeatureFlagSettings(BaseSettings):
    """``TRADING_FEATURE_FLAGS_*`` (upstream's names)."""

    model_config = SettingsConfigDict(env_prefix="TRADING_FEATURE_FLAGS_", extra="ignore", frozen=True,
                                      case_sensitive=False)

    enabled: bool = Field(default=False, description="Off: every flag is its configured setting; no request.")
    url: str | None = Field(default=None, validate_default=True,
                            description="Flipt base URL, e.g. http://feature-flags.feature-flags.svc:8013")
    namespace: str = Field(default="default", min_length=1)
    entity_id: str = Field(default="torghut", min_length=1, description="OFREP targetingKey / Flipt entityId.")
    timeout_ms: int = Field(default=500, ge=1, le=60_000, description="Per evaluation request.")
    refresh_interval_s: float = Field(default=15.0, gt=0, le=3600, description="Re-evaluation period.")
    token: SecretStr | None = Field(default=None, description="Bearer token, when the server has auth on.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip().rstrip("/") or None
        if value is None:
            if info.data.get("enabled"):
                raise ValueError("is required when TRADING_FEATURE_FLAGS_ENABLED=true")
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL without query or fragment, e.g. http://feature-flags:8013")
        return value


def load_flag_settings(**overrides: Any) -> FeatureFlagSettings:
    """From the environment, or :class:`~torghut_runtime.ConfigError` naming the bad variable."""
    return load_settings(FeatureFlagSettings, **overrides)
