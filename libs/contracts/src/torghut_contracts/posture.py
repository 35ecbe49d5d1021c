"""The operator's trading posture, defined once for every service that acts on ``torghut.control.v1``.

Three rules live here and nowhere else: how severe each :class:`TradingState` is, which of two
commands for one scope wins (:func:`supersedes`), and what an account's *effective* posture is
when the global command and the account's own command are combined (:func:`effective_posture`).
The risk firewall judges decisions with it and the execution router gates and cancels orders with
it, so the two can never disagree about whether an account may trade.

The combination fails closed: the most severe trading state of the two commands applies, a kill
switch in either applies, and without a global command the kill switch is on (it stays on until an
operator turns it off: an account command alone can tighten the posture, never lift the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torghut_contracts.enums import TradingState
from torghut_contracts.models.control import GLOBAL_SCOPE, ControlCommand

SEVERITY: Mapping[TradingState, int] = MappingProxyType({
    TradingState.ACTIVE: 0,
    TradingState.REDUCING: 1,
    TradingState.HALTED: 2,
})
"""How restrictive each state is: ACTIVE trades, REDUCING only closes, HALTED sends nothing."""


def most_severe(*states: TradingState) -> TradingState:
    """The most restrictive of ``states``: when two rules disagree, the stricter one applies."""
    return max(states, key=SEVERITY.__getitem__)


def supersedes(new: ControlCommand, current: ControlCommand | None) -> bool:
    """Whether ``new`` replaces ``current`` as its scope's command.

    The control topic is compacted and may be replayed, so an older command can arrive after a
    newer one: only a newer command (or the same one re-sent, an equal ``issued_at``) applies.
    """
    return current is None or new.issued_at >= current.issued_at


def applies_to(command: ControlCommand, account: str) -> bool:
    """Whether ``command`` bears on ``account``: the global scope and the account's own scope do."""
    return command.scope in (GLOBAL_SCOPE, account)


@dataclass(frozen=True, slots=True)
class TradingPosture:
    """The effective operator posture for one account.

    The default is the posture with no command at all: the kill switch on (fail closed), ACTIVE,
    and nobody having commanded a stop. ``kill_switch_commanded`` tells an operator's kill switch
    from that default, because a destructive response (cancelling open orders) must follow only
    an operator's word, never the absence of one.
    """

    kill_switch: bool = True
    trading_state: TradingState = TradingState.ACTIVE
    kill_switch_commanded: bool = False

    def __post_init__(self) -> None:
        if self.kill_switch_commanded and not self.kill_switch:
            raise ValueError("a commanded kill switch is a kill switch that is on")

    @property
    def operator_stopped(self) -> bool:
        """An operator's command (not the fail-closed default) stops trading: a kill switch or HALTED.

        HALTED can only come from a command: the default state is ACTIVE.
        """
        return self.kill_switch_commanded or self.trading_state is TradingState.HALTED

    @property
    def kill_switch_by_default(self) -> bool:
        """The kill switch is on only because no global command has been seen yet: the operator's
        posture is unknown, which stops new orders but justifies nothing destructive."""
        return self.kill_switch and not self.kill_switch_commanded


def effective_posture(global_command: ControlCommand | None,
                      account_command: ControlCommand | None) -> TradingPosture:
    """The posture an account trades under: the most restrictive of the global and its own command.

    Each command is a full state for its scope. A kill switch in either wins; the more severe
    trading state wins; with no global command the kill switch stays on whatever the account
    command says (it can only add restrictions).
    """
    commands = [command for command in (global_command, account_command) if command is not None]
    commanded = any(command.kill_switch for command in commands)
    return TradingPosture(
        kill_switch=commanded or global_command is None,
        trading_state=most_severe(TradingState.ACTIVE, *(command.trading_state for command in commands)),
        kill_switch_commanded=commanded,
    )


def posture_for(commands: Mapping[str, ControlCommand], account: str) -> TradingPosture:
    """The effective posture of ``account`` from the latest command per scope (what the compacted
    topic holds); commands for other accounts are ignored."""
    account_command = commands.get(account) if account != GLOBAL_SCOPE else None
    return effective_posture(commands.get(GLOBAL_SCOPE), account_command)
