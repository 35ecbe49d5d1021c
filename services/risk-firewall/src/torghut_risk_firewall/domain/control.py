"""The operator's posture: the most restrictive of the global and the account command applies.

Each ``ControlCommand`` is a full state for its scope. With no global command at all the kill
switch stays on (fail closed: it is on until an operator turns it off); a missing account
command adds no restriction of its own.
"""

from __future__ import annotations

from torghut_contracts.enums import TradingState
from torghut_contracts.models import ControlCommand

from .state import ControlState

SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


def most_restrictive(*states: TradingState) -> TradingState:
    return max(states, key=SEVERITY.__getitem__)


def effective_control(global_command: ControlCommand | None, account_command: ControlCommand | None) -> ControlState:
    if global_command is None:
        base = ControlState()  # kill switch on until an operator says otherwise
    else:
        base = ControlState(kill_switch=global_command.kill_switch, trading_state=global_command.trading_state)
    if account_command is None:
        return base
    return ControlState(
        kill_switch=base.kill_switch or account_command.kill_switch,
        trading_state=most_restrictive(base.trading_state, account_command.trading_state),
    )


def supersedes(new: ControlCommand, current: ControlCommand | None) -> bool:
    """A compacted topic may replay an older command: only a newer (or equal, re-sent) one applies."""
    return current is None or new.issued_at >= current.issued_at
