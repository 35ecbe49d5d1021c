"""operator-console's settings: every environment variable it reads, with its default."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from torghut_runtime import ServiceSettings

MIN_PRODUCTION_PASSWORD = 12


class ConsoleSettings(ServiceSettings):
    service_name: str = Field(default="operator-console", min_length=1)

    kafka_fetch_max_wait_ms: int = Field(
        default=150, ge=0, le=5_000,
        description="How long a fetch of orders, fills and the rest may wait for records. Tansu answers a held "
                    "fetch when this passes, not when a record arrives: up to this much delay, traded for fewer "
                    "fetches while idle (50 ms in the other services; docs/performance.md, the tenth session).")
    console_signal_fetch_wait_ms: int = Field(
        default=500, ge=0, le=5_000,
        description="How long the broker may hold a fetch of signals to gather a batch (signals alone change "
                    "nothing urgent: counts and marks). The other topics are fetched as records arrive.")
    console_mode: Literal["production", "demo"] = Field(
        default="production",
        description="production: passwords of at least 12 characters, cookies marked Secure. demo: the "
                    "demo's generated password, cookies over plain HTTP on loopback.")
    console_operator_password: SecretStr | None = Field(
        default=None, description="Opens the operator role (kill switch, trading state). Unset: nobody can "
                                  "act from the console; there is no default.")
    console_viewer_password: SecretStr | None = Field(
        default=None, description="Opens the read-only role. Unset: the pages are readable without a login.")
    console_session_secret: SecretStr | None = Field(
        default=None, description="Signs the session cookie. Set it (the same on every replica) so logins "
                                  "survive a restart and span replicas; unset, each process draws its own.")
    console_secure_cookies: bool | None = Field(
        default=None, description="Mark cookies Secure (HTTPS only). Default: on in production mode.")
    console_services: str = Field(
        default="", description="name=url,... of the services whose /readyz the pipeline view shows; "
                                "the name is also the consumer group whose lag it shows.")
    console_push_interval_ms: int = Field(
        default=100, ge=20, le=10_000, description="At most one update of a panel per this many ms to pages.")
    console_signal_push_interval_ms: int = Field(
        default=1_000, ge=20, le=60_000,
        description="At most one update per this many ms of what needs no instant update: what signals, "
                    "triggers, decisions, verdicts, snapshots and whitepaper runs change.")
    console_poll_interval_s: float = Field(
        default=2.0, gt=0, le=300, description="How often health and consumer lag are read.")
    console_login_max_failures: int = Field(
        default=5, ge=1, le=1_000,
        description="Failed logins from one address within CONSOLE_LOGIN_WINDOW_S before it must wait (429).")
    console_login_window_s: float = Field(
        default=300.0, gt=0, le=86_400, description="The window failed logins are counted in, per address.")
    console_hop_retention_h: float = Field(
        default=48.0, gt=0, le=24 * 90, description="How long a message stays followable by correlation id.")

    @model_validator(mode="after")
    def _passwords(self) -> ConsoleSettings:
        for name, secret in (("CONSOLE_OPERATOR_PASSWORD", self.console_operator_password),
                             ("CONSOLE_VIEWER_PASSWORD", self.console_viewer_password)):
            if secret is None:
                continue
            value = secret.get_secret_value()
            if not value:
                raise ValueError(f"{name} is empty: unset it or give a password")
            if self.console_mode == "production" and len(value) < MIN_PRODUCTION_PASSWORD:
                raise ValueError(f"{name} must have at least {MIN_PRODUCTION_PASSWORD} characters in production mode")
        if (self.console_operator_password is not None and self.console_viewer_password is not None
                and self.console_operator_password.get_secret_value()
                == self.console_viewer_password.get_secret_value()):
            raise ValueError("CONSOLE_OPERATOR_PASSWORD and CONSOLE_VIEWER_PASSWORD must differ")
        return self

    @model_validator(mode="after")
    def _services(self) -> ConsoleSettings:
        self.watched_services()
        return self

    def watched_services(self) -> dict[str, str]:
        """CONSOLE_SERVICES parsed: service name -> base URL."""
        services: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in self.console_services.split(","))):
            name, sep, url = item.partition("=")
            parts = urlsplit(url.strip())
            if not sep or not name.strip() or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"CONSOLE_SERVICES entry {item!r} is not name=http(s)://host:port")
            services[name.strip()] = url.strip().rstrip("/")
        return services

    @property
    def secure_cookies(self) -> bool:
        if self.console_secure_cookies is not None:
            return self.console_secure_cookies
        return self.console_mode == "production"

    def secret(self, field: SecretStr | None) -> str | None:
        return field.get_secret_value() if field is not None else None
