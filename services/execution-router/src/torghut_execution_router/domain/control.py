"""The operator's posture from ``torghut.control.v1``: global and account commands, most restrictive wins.

Each command is a full state. With no command at all the posture is *unknown*: the router then places
no order (the kill switch is on until an operator turns it off) but takes no destructive action either;
it cancels open orders only on an explicit kill switch or HALTED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torghut_contracts.enums import TradingState
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand

_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass(frozen=True)
class Posture:
    known: bool
    kill_switch: bool
    trading_state: TradingState

    @property
    def block_reason(self) -> str | None:
        """Why a new order must not be sent now, or None. REDUCING is the firewall's to enforce."""
        if not self.known:
            return "control_state_unknown"
        if self.kill_switch:
            return "kill_switch_enabled"
        if self.trading_state is TradingState.HALTED:
            return "trading_halted"
        return None

    @property
    def cancels_open_orders(self) -> bool:
        return self.known and (self.kill_switch or self.trading_state is TradingState.HALTED)


UNKNOWN_POSTURE = Posture(known=False, kill_switch=True, trading_state=TradingState.HALTED)


def effective_posture(commands: Mapping[str, ControlCommand], account: str) -> Posture:
    relevant = [c for c in (commands.get(GLOBAL_SCOPE), commands.get(account)) if c is not None]
    if not relevant:
        return UNKNOWN_POSTURE
    return Posture(known=True, kill_switch=any(c.kill_switch for c in relevant),
                   trading_state=max((c.trading_state for c in relevant), key=_RANK.__getitem__))


def supersedes(new: ControlCommand, current: ControlCommand | None) -> bool:
    """A compacted topic may hand an older command back on replay; only a newer one (or a tie) wins."""
    return current is None or new.issued_at >= current.issued_at


def concerns(command: ControlCommand, account: str) -> bool:
    return command.scope in (GLOBAL_SCOPE, account)
