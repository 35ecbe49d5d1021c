"""A control request from the page, checked, and the full command it becomes.

The control topic is compacted and every command states both the kill switch and the trading
state of its scope, so a request that changes one must carry the other as the latest command had
it. With no command yet for a scope, its posture is the safe one every service starts in: kill
switch on, ACTIVE (nothing trades until an operator turns the switch off).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from torghut_contracts.enums import TradingState
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand

SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
MAX_REASON = 500


class BadControlRequest(ValueError):
    """A control form the console will not turn into a command; the message says which field and why."""


@dataclass(frozen=True)
class ControlRequest:
    scope: str
    kill_switch: bool | None
    trading_state: TradingState | None
    reason: str


def parse_control_form(form: Mapping[str, str]) -> ControlRequest:
    """Exactly one change per request (the kill switch or the trading state), for a valid scope."""
    scope = form.get("scope", GLOBAL_SCOPE).strip() or GLOBAL_SCOPE
    if not SCOPE.match(scope):
        raise BadControlRequest("scope must be 'global' or an account id (letters, digits, _ . : -, up to 64)")
    reason = form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise BadControlRequest(f"reason is longer than {MAX_REASON} characters")
    kill, state = form.get("kill_switch"), form.get("trading_state")
    if (kill is None) == (state is None):
        raise BadControlRequest("send exactly one of kill_switch (on|off) and trading_state")
    if kill is not None:
        if kill not in ("on", "off"):
            raise BadControlRequest("kill_switch must be 'on' or 'off'")
        return ControlRequest(scope, kill == "on", None, reason)
    try:
        return ControlRequest(scope, None, TradingState(state), reason)
    except ValueError:
        allowed = ", ".join(s.value for s in TradingState)
        raise BadControlRequest(f"trading_state must be one of {allowed}") from None


def command_for(request: ControlRequest, current: ControlCommand | None, *, command_id: str, issued_by: str,
                issued_at: datetime) -> ControlCommand:
    """The full state the scope gets: the requested change over what the latest command said."""
    return ControlCommand(
        command_id=command_id,
        scope=request.scope,
        kill_switch=(request.kill_switch if request.kill_switch is not None
                     else current.kill_switch if current else True),
        trading_state=request.trading_state or (current.trading_state if current else TradingState.ACTIVE),
        reason=request.reason,
        issued_by=issued_by,
        issued_at=issued_at,
    )
