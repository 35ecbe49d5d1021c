"""Operator commands on ``torghut.control.v1``: each one a full state for its scope.

Because the topic is compacted and every command states both the kill switch and the trading
state, toggling one keeps the other as the latest command for that scope had it.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from torghut_contracts.enums import TradingState
from torghut_contracts.models import ControlCommand


def latest_by_scope(commands: Iterable[ControlCommand]) -> dict[str, ControlCommand]:
    latest: dict[str, ControlCommand] = {}
    for command in commands:
        latest[command.scope] = command
    return latest


def next_command(current: ControlCommand | None, *, scope: str, kill_switch: bool | None = None,
                 trading_state: TradingState | None = None, reason: str = "",
                 now: datetime | None = None) -> ControlCommand:
    """The command that changes what was asked and keeps the rest (no history: kill switch on, ACTIVE)."""
    return ControlCommand(
        command_id=str(uuid.uuid4()),
        scope=scope,
        kill_switch=kill_switch if kill_switch is not None else (current.kill_switch if current else True),
        trading_state=trading_state or (current.trading_state if current else TradingState.ACTIVE),
        reason=reason,
        issued_by=_operator(),
        issued_at=now or datetime.now(UTC),
    )


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"
