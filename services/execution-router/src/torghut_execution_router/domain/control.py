"""What the router does with the operator's posture from ``torghut.control.v1``.

The posture itself (global and account command combined, most restrictive wins, the kill switch on
until a global command turns it off) is ``torghut_contracts.posture``, shared with the risk firewall.
Here is only the router's response to it: no new order while the kill switch is on or the account is
HALTED (REDUCING is the firewall's to enforce), and open orders cancelled only when an operator's
command asks for a stop: a posture that is unknown blocks, but takes no destructive action.
"""

from __future__ import annotations

from torghut_contracts.enums import TradingState
from torghut_contracts.posture import TradingPosture


def block_reason(posture: TradingPosture) -> str | None:
    """Why a new order must not be sent now, or None.

    An operator's kill switch is reported before HALTED, and both before a kill switch that is on only
    because no global command has been seen yet (``control_state_unknown``).
    """
    if posture.kill_switch_commanded:
        return "kill_switch_enabled"
    if posture.trading_state is TradingState.HALTED:
        return "trading_halted"
    if posture.kill_switch_by_default:
        return "control_state_unknown"
    return None


def cancels_open_orders(posture: TradingPosture) -> bool:
    """Cancel what is open only on an operator's stop (kill switch or HALTED), never on the default."""
    return posture.operator_stopped
