"""Settings: the runtime's, the managed accounts, the clock, and the risk limits.

The limits are one typed object (:class:`RiskLimits`). Their base is the YAML/JSON file named by
``RISK_LIMITS_FILE`` (optional; without it the documented defaults apply); each key can be
overridden by ``RISK_LIMITS__<KEY>`` (for example ``RISK_LIMITS__MAX_NOTIONAL_PER_TRADE=5000``),
or the whole object by ``RISK_LIMITS`` as JSON. A malformed or unknown key stops start-up with a
:class:`ConfigError` naming the key and where it came from.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from torghut_runtime import ConfigError, ServiceSettings
from torghut_runtime.settings import Clock, CommaSeparated, renamed_clock

from .domain.limits import RiskLimits

LIMITS_ENV_PREFIX = "RISK_LIMITS__"
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class RiskFirewallSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__")
    renamed_variables = (renamed_clock("RISK_CLOCK"),)

    service_name: str = Field(default="risk-firewall", min_length=1)
    torghut_account: str = Field(default="paper-main", pattern=ACCOUNT_PATTERN,
                                 description="The account this firewall owns; other accounts' decisions are vetoed.")
    torghut_accounts: CommaSeparated = Field(
        default=(), description="Comma-separated accounts this firewall owns, in place of TORGHUT_ACCOUNT (one "
                                "deployment, its replicas sharing the accounts' partitions); unset: TORGHUT_ACCOUNT.")
    clock: Clock = Field(
        default="wall",
        description="'wall': judge at the wall-clock time (live, catches a backlog of old decisions); "
                    "'event': judge at the event's own time (replays, backtests). Formerly RISK_CLOCK.")
    risk_operator_token: SecretStr | None = Field(
        default=None, description="Bearer token for POST .../latches/reset; unset disables resets (503).")
    risk_limits_file: Path | None = Field(default=None, description="YAML or JSON file with risk limits.")
    risk_limits: RiskLimits = Field(default_factory=RiskLimits,
                                    description="The limits; per key RISK_LIMITS__<KEY> overrides the file.")

    @field_validator("torghut_accounts")
    @classmethod
    def _valid_accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [account for account in value if not re.match(ACCOUNT_PATTERN, account)]
        if bad:
            raise ValueError(f"not account names: {', '.join(map(repr, bad[:5]))}")
        if len(set(value)) != len(value):
            raise ValueError("an account is named twice")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_accounts(self) -> RiskFirewallSettings:
        if self.torghut_accounts and "torghut_account" in self.model_fields_set \
                and self.torghut_account not in self.torghut_accounts:
            raise ValueError(f"TORGHUT_ACCOUNT {self.torghut_account!r} is not in TORGHUT_ACCOUNTS: "
                             "set one of the two, or name it in the list")
        return self

    @property
    def managed_accounts(self) -> tuple[str, ...]:
        """The accounts this firewall judges, in the order their rows are locked together."""
        return tuple(sorted(self.torghut_accounts or (self.torghut_account,)))

    @model_validator(mode="before")
    @classmethod
    def _limits_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        path = data.get("risk_limits_file")
        overrides = data.get("risk_limits")
        if isinstance(overrides, str):
            overrides = json.loads(overrides)
        if isinstance(overrides, RiskLimits):
            return data
        merged: dict[str, Any] = {}
        if path:
            merged.update(read_limits_file(Path(path)))
        merged.update(overrides or {})
        return {**data, "risk_limits": merged}


def read_limits_file(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"RISK_LIMITS_FILE {path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"RISK_LIMITS_FILE {path} is not valid YAML/JSON: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"RISK_LIMITS_FILE {path} must hold a mapping of limit keys, not {type(raw).__name__}")
    return {str(k): v for k, v in raw.items()}


def _where(location: tuple[Any, ...], file: str | None) -> str:
    if not location:
        return "<settings>"
    if location[0] == "risk_limits" and len(location) > 1:
        key = str(location[1])
        env = LIMITS_ENV_PREFIX + key.upper()
        if env in os.environ or env.lower() in os.environ:
            return f"risk limit {key} (env {env})"
        return f"risk limit {key} (in {file})" if file else f"risk limit {key} ({env})"
    if location[0] == "risk_limits":
        return "risk limits (RISK_LIMITS_FILE / RISK_LIMITS__*)"
    return str(location[0]).upper()


def load_firewall_settings(**overrides: Any) -> RiskFirewallSettings:
    """Settings from the environment (and the limits file), or :class:`ConfigError` naming each bad key."""
    try:
        return RiskFirewallSettings(**overrides)
    except ValidationError as exc:
        file = overrides.get("risk_limits_file") or os.environ.get("RISK_LIMITS_FILE")
        lines = []
        for error in exc.errors():
            where = _where(tuple(error.get("loc", ())), str(file) if file else None)
            problem = "is required but not set" if error["type"] == "missing" else error["msg"]
            value = error.get("input")
            shown = "" if error["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
            lines.append(f"{where} {problem}{shown}")
        raise ConfigError("RiskFirewallSettings: " + "; ".join(lines)) from None
