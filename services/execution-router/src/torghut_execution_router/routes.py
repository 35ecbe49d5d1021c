"""Which venue takes the next order: the routing policy (as configured, or as the feature flags make
it, read per order) and the LEAN runner's health, fed to the pure ``domain.routing.choose_route``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from torghut_contracts.enums import Adapter
from torghut_contracts.models import ApprovedOrder
from torghut_runtime.flags import FeatureFlags, Flag

from .adapters.metrics import RouterMetrics
from .adapters.venues.lean.client import LeanAdapter
from .domain.routing import RouteDecision, RoutingPolicy, choose_route

_POLICY_FLAGS = (Flag.LEAN_ENABLED, Flag.LEAN_FALLBACK_ENABLED, Flag.HONOUR_ADAPTER_HINT, Flag.LEAN_REQUIRE_HEALTHY)


class FlaggedPolicy:
    """The routing policy per order from the four routing flags (one policy per combination, cached).

    * LEAN routing on: LEAN is the primary venue (when a runner is configured); off: LEAN takes nothing
      and its orders follow the fallback as their ordinary route (none configured: refused, lean_disabled).
    * LEAN fallback on: EXECUTION_FALLBACK_ADAPTER (a flag cannot invent a venue when it is none); off: none.
    * adapter hints and LEAN-must-be-healthy: the policy's fields as they are.
    """

    def __init__(self, configured: RoutingPolicy, flags: FeatureFlags) -> None:
        self.configured = configured
        self.flags = flags
        self._cache: dict[tuple[bool, ...], RoutingPolicy] = {}

    def __call__(self) -> RoutingPolicy:
        if not self.flags.enabled:
            return self.configured
        key = tuple(self.flags.value(f) for f in _POLICY_FLAGS)
        policy = self._cache.get(key)
        if policy is None:
            lean, fallback, hints, healthy = key
            base = self.configured
            primary = Adapter.LEAN if lean and Adapter.LEAN in base.configured else base.primary
            policy = self._cache[key] = dataclasses.replace(
                base, primary=primary, lean_enabled=lean, fallback=base.fallback if fallback else None,
                honour_hints=hints, lean_require_healthy=healthy)
        return policy


class LeanHealth:
    """The LEAN runner's health: its ``/healthz`` every interval, and a failed submission in between."""

    def __init__(self, lean: LeanAdapter | None, metrics: RouterMetrics, interval_s: float) -> None:
        self.lean = lean
        self.metrics = metrics
        self.interval_s = interval_s

    async def healthy(self) -> bool:
        """Checked once before the first order; no runner configured is never healthy."""
        if self.lean is None:
            return False
        if self.lean.healthy is None:
            await self.lean.check_health()
        return bool(self.lean.healthy)

    def mark_unhealthy(self) -> None:
        """A failed submission: keep new orders away until the next health check passes."""
        if self.lean is not None:
            self.lean.mark_unhealthy()

    async def run(self) -> None:
        if self.lean is None:
            return
        while True:
            healthy = await self.lean.check_health()
            self.metrics.venue_healthy.labels(venue="lean").set(1 if healthy else 0)
            await asyncio.sleep(self.interval_s)


class RouteChooser:
    def __init__(self, policy: RoutingPolicy | Callable[[], RoutingPolicy], lean: LeanHealth) -> None:
        self._policy = policy
        """A policy, or where to read it per order (the feature flags)."""
        self.lean = lean

    @property
    def policy(self) -> RoutingPolicy:
        """The routing policy for the next order."""
        return self._policy if isinstance(self._policy, RoutingPolicy) else self._policy()

    async def choose(self, order: ApprovedOrder) -> RouteDecision:
        return choose_route(order.symbol, order.adapter_hint, self.policy, lean_healthy=await self.lean.healthy())
