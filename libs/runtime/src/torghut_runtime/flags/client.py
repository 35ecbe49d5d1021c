"""The client a service reads: a cache of every flag, refreshed from the flag server, with per-flag fallbacks."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from .flag_settings import FeatureFlagSettings, load_flag_settings
from .flipt_provider import _flipt_provider
from .metrics import FlagMetrics
from .registry import Flag, configured_values

log = structlog.get_logger("torghut.flags")


@dataclass(frozen=True)
class _Outcome:
    flag: Flag
    value: bool | None  # None: no usable answer
    reason: str = ""
    detail: str = ""


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
