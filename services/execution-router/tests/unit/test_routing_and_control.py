"""Routing policy and control posture, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from torghut_contracts.enums import Adapter, TradingState
from torghut_contracts.models import ControlCommand
from torghut_contracts.posture import TradingPosture, posture_for
from torghut_execution_router.domain.control import block_reason, cancels_open_orders
from torghut_execution_router.domain.routing import RouteDecision, RoutingPolicy, choose_route

A, L, P = Adapter.ALPACA, Adapter.LEAN, Adapter.PAPER
ALL = frozenset({A, L, P})


def policy(primary: Adapter = P, fallback: Adapter | None = A, configured: frozenset[Adapter] = ALL,
           lean_symbols: str = "NVDA", lean_all: bool = False, hints: bool = True) -> RoutingPolicy:
    return RoutingPolicy(primary=primary, fallback=fallback, configured=configured,
                         lean_symbols=frozenset(lean_symbols.split(",")), lean_all_symbols=lean_all,
                         honour_hints=hints)


@pytest.mark.parametrize(("symbol", "hint", "pol", "healthy", "expected"), [
    ("NVDA", None, policy(), True, RouteDecision(P, P)),
    ("NVDA", A, policy(), True, RouteDecision(A, A)),
    ("NVDA", A, policy(hints=False), True, RouteDecision(P, P)),
    ("NVDA", A, policy(configured=frozenset({P})), True, RouteDecision(P, P)),        # hint to an unconfigured venue
    ("NVDA", L, policy(), True, RouteDecision(L, L, fallback=A)),
    ("AAPL", L, policy(), True, RouteDecision(A, A)),                                 # LEAN may not take AAPL
    ("AAPL", L, policy(lean_all=True), True, RouteDecision(L, L, fallback=A)),
    ("NVDA", None, policy(primary=L), False, RouteDecision(A, L, reason="lean_unhealthy")),
    ("NVDA", None, policy(primary=L, fallback=None), False, RouteDecision(None, L, reason="lean_unhealthy")),
    ("AAPL", None, policy(primary=L, fallback=None), True, RouteDecision(None, L, reason="lean_symbol_not_allowed")),
    ("NVDA", None, policy(primary=L, fallback=P), True, RouteDecision(L, L, fallback=P)),
])
def test_choose_route(symbol: str, hint: Adapter | None, pol: RoutingPolicy, healthy: bool,
                      expected: RouteDecision) -> None:
    assert choose_route(symbol, hint, pol, lean_healthy=healthy) == expected


T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)


def cmd(scope: str, kill: bool = False, state: TradingState = TradingState.ACTIVE, at: int = 0) -> ControlCommand:
    return ControlCommand(command_id=f"{scope}-{at}", scope=scope, kill_switch=kill, trading_state=state,
                          issued_at=T0 + timedelta(seconds=at))


@pytest.mark.parametrize(("commands", "block", "cancels"), [
    ([], "control_state_unknown", False),                      # kill switch on until an operator says otherwise...
    ([cmd("other-account", kill=False)], "control_state_unknown", False),
    ([cmd("global")], None, False),
    # Without a global command the kill switch stays on: an account command alone cannot lift it
    # (it used to here; the posture is now the one the risk firewall has always used).
    ([cmd("paper-main")], "control_state_unknown", False),
    ([cmd("paper-main", state=TradingState.REDUCING)], "control_state_unknown", False),
    ([cmd("paper-main", kill=True)], "kill_switch_enabled", True),              # ...but can add a stop
    ([cmd("paper-main", state=TradingState.HALTED)], "trading_halted", True),
    ([cmd("global", kill=True)], "kill_switch_enabled", True),
    ([cmd("global"), cmd("paper-main", kill=True)], "kill_switch_enabled", True),
    ([cmd("global", state=TradingState.HALTED), cmd("paper-main")], "trading_halted", True),
    ([cmd("global", state=TradingState.REDUCING)], None, False),  # the firewall enforces REDUCING
])
def test_posture_most_restrictive_wins(commands: list[ControlCommand], block: str | None, cancels: bool) -> None:
    posture = posture_for({c.scope: c for c in commands}, "paper-main")
    assert block_reason(posture) == block
    assert cancels_open_orders(posture) is cancels


def test_unknown_posture_places_nothing_and_cancels_nothing() -> None:
    unknown = TradingPosture()
    assert block_reason(unknown) == "control_state_unknown" and not cancels_open_orders(unknown)
