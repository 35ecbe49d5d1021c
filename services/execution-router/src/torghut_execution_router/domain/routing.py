"""Routing policy: which venue takes an approved order.

Inputs are the primary adapter, the symbols a LEAN runner may take, the fallback, the runner's health
and the decision's ``adapter_hint``. A hint is advisory: it can only choose among adapters that are
configured, and a LEAN hint still obeys the LEAN symbol policy. When nothing may take the order the
decision says so (``adapter=None``) and the router rejects the order rather than guess a venue.
"""

from __future__ import annotations

from dataclasses import dataclass

from torghut_contracts.enums import Adapter


@dataclass(frozen=True)
class RoutingPolicy:
    primary: Adapter
    fallback: Adapter | None
    configured: frozenset[Adapter]
    lean_symbols: frozenset[str] = frozenset()
    lean_all_symbols: bool = False
    honour_hints: bool = True
    lean_require_healthy: bool = True
    lean_enabled: bool = True
    """Off (the LEAN routing flag): LEAN takes nothing; its orders follow the fallback as their route."""

    def lean_may_take(self, symbol: str) -> bool:
        return self.lean_enabled and Adapter.LEAN in self.configured and (
            self.lean_all_symbols or symbol in self.lean_symbols)


@dataclass(frozen=True)
class RouteDecision:
    adapter: Adapter | None
    """The venue to submit to, or None: no venue may take this order."""
    expected: Adapter
    """What the policy wanted before health or symbol rules stepped in (recorded for audit)."""
    fallback: Adapter | None = None
    """Where to go if the chosen venue (LEAN) fails."""
    reason: str | None = None
    """Why ``adapter`` is not ``expected`` (a fallback reason), or why there is no route."""


def choose_route(symbol: str, hint: Adapter | None, policy: RoutingPolicy, *, lean_healthy: bool) -> RouteDecision:
    wanted = policy.primary
    if hint is not None and policy.honour_hints and hint in policy.configured:
        wanted = hint
    if wanted is not Adapter.LEAN:
        return RouteDecision(adapter=wanted, expected=wanted)
    if not policy.lean_may_take(symbol):
        # Not a failure: LEAN is simply not this symbol's venue; the fallback is its ordinary route.
        if policy.fallback is None:
            return RouteDecision(adapter=None, expected=Adapter.LEAN,
                                 reason="lean_symbol_not_allowed" if policy.lean_enabled else "lean_disabled")
        return RouteDecision(adapter=policy.fallback, expected=policy.fallback)
    if policy.lean_require_healthy and not lean_healthy:
        return RouteDecision(adapter=policy.fallback, expected=Adapter.LEAN, reason="lean_unhealthy")
    return RouteDecision(adapter=Adapter.LEAN, expected=Adapter.LEAN, fallback=policy.fallback)


def fallback_route(route: RouteDecision, reason: str) -> RouteDecision | None:
    """Where an order goes after its venue (LEAN) failed with ``reason``; None: nowhere, refuse it."""
    if route.fallback is None:
        return None
    return RouteDecision(adapter=route.fallback, expected=route.expected, reason=reason)


def resumed_route(venue: Adapter, expected: Adapter, policy: RoutingPolicy) -> RouteDecision:
    """The route of an order claimed by an earlier attempt: the venue it was claimed for, as it was."""
    return RouteDecision(adapter=venue, expected=expected, fallback=policy.fallback if venue is Adapter.LEAN else None)
