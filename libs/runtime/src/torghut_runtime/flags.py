"""Feature flags: operator switches read from a Flipt server through OpenFeature, with safe fallbacks.

The one place that owns flags. A service asks for a flag by its typed name, never a raw string::

    flags = FeatureFlags.for_service("risk-firewall", settings, load_flag_settings(), registry=registry)
    await flags.start()                      # first evaluation, then a refresh every 15 s
    if flags.value(Flag.ALLOW_SHORTS): ...   # a dict read: well under a microsecond
    await flags.stop()

:class:`Flag` is the registry: each flag's key in ``deploy/flags/features.yaml``, the service setting(s)
it stands for, its default and safe values and whether turning it away from its safe value loosens
safety. docs/feature-flags.md explains the rules; in short:

* ``TRADING_FEATURE_FLAGS_ENABLED=false`` (the default): every flag is its configured setting value
  (what the service does without flags) and no request is ever made.
* Enabled: every flag is evaluated through the OpenFeature SDK with the Flipt provider (Flipt's OFREP
  API) at start and every ``TRADING_FEATURE_FLAGS_REFRESH_INTERVAL_S``. ``value()`` reads a cache.
* A flag that cannot be evaluated (server down, timeout, 404, malformed answer) falls back to its
  configured value, each flag on its own, with a warning and ``torghut_feature_flag_fallbacks_total``.
* A flag that loosens safety starts at its safe value and leaves it only on an answer of the flag
  server, never on a fallback.
* Every change is logged with the old and new value and counted
  (``torghut_feature_flag_changes_total``).

This module does not import any service: the test suite checks each target setting exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .settings import load_settings

log = structlog.get_logger("torghut.flags")

Match = Literal["is_true", "one_of", "contains", "env_true"]


# -- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The service setting a flag stands for, and how the setting's value reads as on/off.

    ``setting`` is a (dotted) attribute of the service's settings class, or for ``env_true`` an
    environment variable the service reads itself. ``match``: ``is_true`` (a bool setting),
    ``one_of`` (on when the value is one of ``values``), ``contains`` (on when the list holds one of
    ``values``), ``env_true`` (on when the variable is ``true``).
    """

    service: str
    setting: str
    match: Match = "is_true"
    values: tuple[str, ...] = ()

    def read(self, source: Any) -> Any:
        if self.match == "env_true":
            return source.get(self.setting, "") if isinstance(source, Mapping) else getattr(source, self.setting, "")
        value = source
        for part in self.setting.split("."):
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return value

    def project(self, value: Any) -> bool:
        """The flag value a setting value means."""
        if self.match == "is_true":
            return value is True
        if self.match == "one_of":
            return str(getattr(value, "value", value)) in self.values
        if self.match == "contains":
            return any(str(getattr(v, "value", v)) in self.values for v in (value or ()))
        return str(value or "").strip().lower() == "true"


@dataclass(frozen=True)
class FlagSpec:
    key: str
    name: str
    description: str
    default: bool
    safe: bool
    loosens_safety: bool
    targets: tuple[Target, ...]


class Flag(Enum):
    """Every operator switch, by typed name. The value is its :class:`FlagSpec`."""

    LLM_DSPY_ACTIVE = FlagSpec(
        "torghut_llm_dspy_active", "DSPy program active",
        "The compiled DSPy program's decisions are used (LLM_DSPY_RUNTIME_MODE=active); off keeps it in shadow.",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("decision-client", "llm_dspy_runtime_mode", "one_of", ("active",)),))
    LEAN_ENABLED = FlagSpec(
        "torghut_trading_lean_enabled", "LEAN routing",
        "Orders route to the LEAN runner (EXECUTION_PRIMARY_ADAPTER=lean; the engine is told LEAN is enabled).",
        default=False, safe=False, loosens_safety=False,
        targets=(Target("decision-client", "execution_lean_enabled"),
                 Target("execution-router", "execution_primary_adapter", "one_of", ("lean",))))
    LEAN_FALLBACK_ENABLED = FlagSpec(
        "torghut_trading_lean_fallback_enabled", "LEAN fallback venue",
        "An order LEAN fails or may not take goes to EXECUTION_FALLBACK_ADAPTER; off: it is refused.",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "execution_fallback_adapter", "one_of", ("alpaca", "paper")),))
    LEAN_REQUIRE_HEALTHY = FlagSpec(
        "torghut_trading_lean_runner_require_healthy", "LEAN must be healthy",
        "Orders go to LEAN only while its health check passes (LEAN_REQUIRE_HEALTHY).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("execution-router", "lean_require_healthy"),))
    HONOUR_ADAPTER_HINT = FlagSpec(
        "torghut_trading_execution_honour_adapter_hint", "Honour adapter hints",
        "A decision's adapter_hint may pick a configured venue (EXECUTION_HONOUR_ADAPTER_HINT).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "execution_honour_adapter_hint"),))
    ORDER_FEED_ENABLED = FlagSpec(
        "torghut_trading_order_feed_enabled", "Order-feed ingestion",
        "Alpaca trade updates are ingested from the websocket stream (ALPACA_STREAM_ENABLED).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "alpaca_stream_enabled"),))
    ALLOW_SHORTS = FlagSpec(
        "torghut_trading_allow_shorts", "Shorts allowed",
        "A sell may take a position below zero (risk limit allow_shorts).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_shorts"),))
    ALLOW_EXTENDED_HOURS = FlagSpec(
        "torghut_trading_allow_extended_hours", "Extended hours allowed",
        "Orders flagged extended_hours pass the firewall (risk limit allow_extended_hours).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_extended_hours"),))
    ALLOW_FRACTIONAL = FlagSpec(
        "torghut_trading_allow_fractional", "Fractional quantities allowed",
        "Fractional quantities pass the firewall, longs only (risk limit allow_fractional).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_fractional"),))
    RISK_CLAMP_ENABLED = FlagSpec(
        "torghut_trading_risk_clamp_enabled", "Clamp instead of veto",
        "An order over a cap is clamped down to fit instead of vetoed (risk limit clamp_enabled).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("risk-firewall", "risk_limits.clamp_enabled"),))
    MARKET_CONTEXT_REQUIRED = FlagSpec(
        "torghut_trading_market_context_required", "Market context required",
        "The engine holds unless the market-context skill domain is fresh "
        "(market-context in DECISION_ENGINE_REQUIRED_DOMAINS).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("decision-engine", "decision_engine_required_domains", "contains", ("market-context",)),))
    SIGNAL_REQUIRE_QUOTE = FlagSpec(
        "torghut_trading_signal_require_quote", "Quote required",
        "Signals without a two-sided quote are gated (SIGNAL_REQUIRE_QUOTE).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("signal-trigger", "signal_require_quote"),))
    WHITEPAPER_WORKFLOW_ENABLED = FlagSpec(
        "torghut_whitepaper_workflow_enabled", "Whitepaper workflow",
        "Research-paper issues are ingested and dispatched (WHITEPAPER_WORKFLOW_ENABLED).",
        default=False, safe=False, loosens_safety=False,
        targets=(Target("whitepaper-ingest", "whitepaper_workflow_enabled"),))
    WHITEPAPER_AUTO_DISPATCH = FlagSpec(
        "torghut_whitepaper_agentrun_auto_dispatch", "AgentRun auto dispatch",
        "The AgentRun is dispatched as soon as the PDF is stored (WHITEPAPER_AGENTRUN_AUTO_DISPATCH).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("whitepaper-ingest", "whitepaper_agentrun_auto_dispatch"),))
    ALLOW_LIVE_PROMOTION = FlagSpec(
        "torghut_trading_autonomy_allow_live_promotion", "Live promotion allowed",
        "The research lane may recommend live promotion (TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION); "
        "the gate policy and the approval token still apply.",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("research", "TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION", "env_true"),))

    @property
    def spec(self) -> FlagSpec:
        spec: FlagSpec = self.value
        return spec

    @property
    def key(self) -> str:
        return self.spec.key

    @classmethod
    def for_service(cls, service: str) -> list[Flag]:
        return [f for f in cls if any(t.service == service for t in f.spec.targets)]


def configured_values(service: str, settings: Any, flags: Iterable[Flag] | None = None) -> dict[Flag, bool]:
    """What each of ``service``'s flags is without a flag server: its setting's value, read from
    ``settings`` (the service's settings object; a mapping such as ``os.environ`` for ``env_true``)."""
    out: dict[Flag, bool] = {}
    for flag in Flag.for_service(service) if flags is None else flags:
        target = next(t for t in flag.spec.targets if t.service == service)
        out[flag] = target.project(target.read(settings))
    return out


# -- settings ------------------------------------------------------------------------------------


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


# -- the client ----------------------------------------------------------------------------------


class FlagMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.fallbacks = Counter(
            "torghut_feature_flag_fallbacks_total",
            "Flag evaluations that fell back to the configured value, by flag and reason "
            "(unavailable, timeout, not_found, malformed, unauthorized).",
            ["flag", "reason"], registry=registry)
        self.changes = Counter(
            "torghut_feature_flag_changes_total", "Flag value changes, by flag and source (server, fallback).",
            ["flag", "source"], registry=registry)
        self.value = Gauge("torghut_feature_flag_value", "Current value of each flag (1 on, 0 off).", ["flag"],
                           registry=registry)
        self.last_answer = Gauge("torghut_feature_flag_last_answer_timestamp_seconds",
                                 "When the flag server last answered for a flag.", ["flag"], registry=registry)


@dataclass(frozen=True)
class _Outcome:
    flag: Flag
    value: bool | None  # None: no usable answer
    reason: str = ""
    detail: str = ""


def _check_ofrep_answer(response: Any, *args: Any, **kwargs: Any) -> Any:
    """A ``requests`` response hook: a 2xx OFREP answer must carry a boolean ``value``, a known
    ``reason`` and a ``variant``; anything else is a malformed answer (the provider would otherwise
    return the default value as if the server had said so)."""
    from openfeature.exception import ParseError
    from openfeature.flag_evaluation import Reason

    if not 200 <= response.status_code < 300:
        return response
    try:
        body = response.json()
    except ValueError as exc:
        raise ParseError(f"the flag server's answer is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("value"), bool):
        raise ParseError(f"the flag server's answer has no boolean value: {str(body)[:200]}")
    if body.get("reason") not in Reason.__members__ or "variant" not in body:
        raise ParseError(f"the flag server's answer lacks a known reason or a variant: {str(body)[:200]}")
    return response


def _fallback_reason(error_code: Any, message: str | None) -> str:
    from openfeature.exception import ErrorCode

    if error_code == ErrorCode.FLAG_NOT_FOUND:
        return "not_found"
    if error_code in (ErrorCode.PARSE_ERROR, ErrorCode.TYPE_MISMATCH):
        return "malformed"
    text = (message or "").lower()
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "unauthorized" in text or "forbidden" in text:
        return "unauthorized"
    return "unavailable"


class FeatureFlags:
    """The flags one service reads: a cache refreshed from the flag server, with per-flag fallbacks."""

    def __init__(
        self,
        settings: FeatureFlagSettings,
        configured: Mapping[Flag, bool],
        *,
        service: str = "torghut",
        registry: CollectorRegistry | None = None,
        provider_factory: Callable[[FeatureFlagSettings], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self._configured = dict(configured)
        self._flags = list(self._configured)
        self.metrics = FlagMetrics(registry if registry is not None else CollectorRegistry())
        self._provider_factory = provider_factory or _flipt_provider
        self._provider: Any = None
        self._client: Any = None
        self._domain = f"torghut:{service}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._failing: dict[Flag, str] = {}
        self._watchers: dict[Flag, list[Callable[[bool], None]]] = {}
        if settings.enabled:
            # Until the server answers, a loosening flag is at its safe value.
            self._values = {f: (f.spec.safe if f.spec.loosens_safety else v) for f, v in self._configured.items()}
        else:
            self._values = dict(self._configured)
        self._sources = {f: "configured" for f in self._flags}
        for flag, value in self._values.items():
            self.metrics.value.labels(flag.key).set(int(value))

    @classmethod
    def for_service(cls, service: str, service_settings: Any, flag_settings: FeatureFlagSettings | None = None,
                    *, registry: CollectorRegistry | None = None) -> FeatureFlags:
        """The flags ``service`` reads, configured from its settings object."""
        return cls(flag_settings if flag_settings is not None else load_flag_settings(),
                   configured_values(service, service_settings), service=service, registry=registry)

    # -- the hot path ----------------------------------------------------------------------------

    def value(self, flag: Flag) -> bool:
        """The flag's current value (a dictionary read; never waits for the server)."""
        try:
            return self._values[flag]
        except KeyError:
            raise KeyError(f"{flag} is not one of {self.service}'s flags") from None

    def snapshot(self) -> dict[str, bool]:
        return {f.key: v for f, v in self._values.items()}

    def source(self, flag: Flag) -> str:
        """``configured`` (never evaluated), ``server`` (the last answer) or ``fallback``."""
        return self._sources[flag]

    def on_change(self, flag: Flag, callback: Callable[[bool], None]) -> None:
        """Call ``callback(new_value)`` each time ``flag`` changes value, on the event loop, as the refresh
        that changed it applies it.

        For a switch that acts on a flip (start or stop a stream, hold or release a consumer) rather
        than reading the value per message: it follows the flag within one refresh interval without a
        poll of its own. The value at registration is not announced (read it with :meth:`value`); with
        flags disabled nothing ever changes. A callback that raises is logged and stops neither the
        refresh nor the other callbacks.
        """
        self.value(flag)  # KeyError for a flag that is not the service's
        self._watchers.setdefault(flag, []).append(callback)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self) -> None:
        """Evaluate every flag once, then keep refreshing them in the background (when enabled)."""
        if not self.enabled:
            log.info("feature_flags_disabled", service=self.service, values=self.snapshot())
            return
        if self._task is not None:
            return
        from openfeature import api

        self._provider = self._provider_factory(self.settings)
        api.set_provider_and_wait(self._provider, self._domain)
        self._client = api.get_client(self._domain)
        log.info("feature_flags_started", service=self.service, url=self.settings.url,
                 namespace=self.settings.namespace, interval_s=self.settings.refresh_interval_s,
                 flags=[f.key for f in self._flags])
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name=f"feature-flags-{self.service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._provider is not None:
            from openfeature import api
            from openfeature.provider.no_op_provider import NoOpProvider

            api.set_provider(NoOpProvider(), self._domain)
            session = getattr(self._provider, "session", None)
            if session is not None:
                session.close()
            self._provider = self._client = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_interval_s)
            try:
                await self.refresh()
            except Exception:  # never let the refresher die; the cache keeps its values
                log.exception("feature_flags_refresh_failed", service=self.service)

    async def refresh(self) -> None:
        """Evaluate every flag now (blocking HTTP runs in a worker thread) and apply the answers."""
        if not self.enabled or self._client is None:
            return
        outcomes = await asyncio.to_thread(self._evaluate_all)
        for outcome in outcomes:
            self._apply(outcome)

    # -- evaluation ------------------------------------------------------------------------------

    def _evaluate_all(self) -> list[_Outcome]:
        from openfeature.evaluation_context import EvaluationContext

        context = EvaluationContext(targeting_key=self.settings.entity_id, attributes={"service": self.service})
        outcomes = []
        for flag in self._flags:
            try:
                details = self._client.get_boolean_details(flag.key, self._configured[flag], context)
            except Exception as exc:  # the SDK catches provider errors; this is belt and braces
                outcomes.append(_Outcome(flag, None, "unavailable", repr(exc)))
                continue
            if details.error_code is not None:
                outcomes.append(_Outcome(flag, None, _fallback_reason(details.error_code, details.error_message),
                                         details.error_message or str(details.error_code)))
            elif not isinstance(details.value, bool):
                outcomes.append(_Outcome(flag, None, "malformed", f"not a boolean: {details.value!r}"))
            else:
                outcomes.append(_Outcome(flag, details.value))
        return outcomes

    def _apply(self, outcome: _Outcome) -> None:
        flag, spec = outcome.flag, outcome.flag.spec
        old = self._values[flag]
        if outcome.value is not None:
            new, source = outcome.value, "server"
            self.metrics.last_answer.labels(flag.key).set(time.time())
            if self._failing.pop(flag, None) is not None:
                log.info("feature_flag_recovered", service=self.service, flag=flag.key, value=new)
        else:
            source = "fallback"
            new = self._configured[flag]
            if spec.loosens_safety and old == spec.safe and new != spec.safe:
                new = spec.safe  # a fallback never moves a loosening flag off its safe value
            self.metrics.fallbacks.labels(flag.key, outcome.reason).inc()
            if self._failing.get(flag) != outcome.reason:
                log.warning("feature_flag_fallback", service=self.service, flag=flag.key, reason=outcome.reason,
                            detail=outcome.detail[:300], value=new, configured=self._configured[flag])
            self._failing[flag] = outcome.reason
        self._sources[flag] = source
        if new != old:
            self._values[flag] = new
            self.metrics.value.labels(flag.key).set(int(new))
            self.metrics.changes.labels(flag.key, source).inc()
            log.warning("feature_flag_changed", service=self.service, flag=flag.key, old=old, new=new,
                        source=source, loosens_safety=spec.loosens_safety)
            self._announce(flag, new)

    def _announce(self, flag: Flag, value: bool) -> None:
        for callback in self._watchers.get(flag, ()):
            try:
                callback(value)
            except Exception:  # a broken watcher must not stop the refresh or the others
                log.exception("feature_flag_watcher_failed", service=self.service, flag=flag.key)


def _flipt_provider(settings: FeatureFlagSettings) -> Any:
    """The OpenFeature Flipt provider (Flipt's OFREP API), with a strict answer check and bearer auth."""
    from openfeature.contrib.provider.flipt import FliptProvider

    headers: Callable[[], dict[str, str]] | None = None
    if settings.token is not None:
        bearer = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        headers = lambda: bearer  # noqa: E731
    assert settings.url is not None
    provider = FliptProvider(base_url=settings.url, namespace=settings.namespace, headers_factory=headers,
                             timeout=settings.timeout_ms / 1000)
    provider.session.hooks["response"].append(_check_ofrep_answer)
    return provider


def wire_flags(runtime: Any, service: str, service_settings: Any,
               flag_settings: FeatureFlagSettings | None = None) -> FeatureFlags:
    """Build ``service``'s flags for a :class:`~torghut_runtime.ServiceRuntime` and start/stop them with it.

    The first evaluation runs as a background loop (it never delays start-up; until it answers a
    loosening flag is at its safe value, any other at its configured value); the refresher stops on
    graceful stop. ``flag_settings`` defaults to the environment (``TRADING_FEATURE_FLAGS_*``).
    """
    flags = FeatureFlags.for_service(service, service_settings, flag_settings, registry=runtime.registry)
    runtime.background("feature-flags", flags.start)
    runtime.on_stop(flags.stop)
    return flags
