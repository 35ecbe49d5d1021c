"""The operator's posture: severity, which command supersedes which, and global + account combined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torghut_contracts.enums import TradingState
from torghut_contracts.models import ControlCommand
from torghut_contracts.posture import (
    SEVERITY,
    TradingPosture,
    applies_to,
    effective_posture,
    most_severe,
    posture_for,
    supersedes,
)

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)
ACCOUNT = "paper-main"


def cmd(scope: str = "global", kill: bool = False, state: TradingState = ACTIVE, at: int = 0) -> ControlCommand:
    return ControlCommand(command_id=f"{scope}-{at}", scope=scope, kill_switch=kill, trading_state=state,
                          issued_at=T0 + timedelta(seconds=at))


def test_severity_orders_every_state() -> None:
    assert set(SEVERITY) == set(TradingState)
    assert SEVERITY[ACTIVE] < SEVERITY[REDUCING] < SEVERITY[HALTED]


@pytest.mark.parametrize(("states", "expected"), [
    ((ACTIVE,), ACTIVE),
    ((ACTIVE, REDUCING), REDUCING),
    ((REDUCING, ACTIVE), REDUCING),
    ((HALTED, REDUCING), HALTED),
    ((ACTIVE, HALTED, REDUCING), HALTED),
])
def test_most_severe(states: tuple[TradingState, ...], expected: TradingState) -> None:
    assert most_severe(*states) is expected


@pytest.mark.parametrize(("new", "current", "expected"), [
    (cmd(at=1), None, True),             # the first command for a scope
    (cmd(at=2), cmd(at=1), True),        # newer
    (cmd(at=1), cmd(at=1), True),        # the same command re-sent
    (cmd(at=1), cmd(at=2), False),       # an older one replayed from the compacted topic
])
def test_supersedes(new: ControlCommand, current: ControlCommand | None, expected: bool) -> None:
    assert supersedes(new, current) is expected


@pytest.mark.parametrize(("scope", "expected"), [("global", True), (ACCOUNT, True), ("other-account", False)])
def test_applies_to(scope: str, expected: bool) -> None:
    assert applies_to(cmd(scope), ACCOUNT) is expected


GLOBAL_OFF, GLOBAL_KILL = cmd("global"), cmd("global", kill=True)
ACCOUNT_OFF, ACCOUNT_KILL = cmd(ACCOUNT), cmd(ACCOUNT, kill=True)

#: (case, global, account, kill switch, state, kill switch commanded)
POSTURES = [
    ("nothing issued: kill switch on by default", None, None, True, ACTIVE, False),
    ("global only", GLOBAL_OFF, None, False, ACTIVE, False),
    ("global kill switch", GLOBAL_KILL, None, True, ACTIVE, True),
    ("account alone cannot lift the default kill switch", None, ACCOUNT_OFF, True, ACTIVE, False),
    ("account alone can add a kill switch", None, ACCOUNT_KILL, True, ACTIVE, True),
    ("account alone can tighten the state", None, cmd(ACCOUNT, state=HALTED), True, HALTED, False),
    ("account tighter", GLOBAL_OFF, cmd(ACCOUNT, state=REDUCING), False, REDUCING, False),
    ("global tighter", cmd("global", state=HALTED), cmd(ACCOUNT, state=REDUCING), False, HALTED, False),
    ("account kill switch wins", GLOBAL_OFF, ACCOUNT_KILL, True, ACTIVE, True),
    ("global kill switch wins", GLOBAL_KILL, ACCOUNT_OFF, True, ACTIVE, True),
]


@pytest.mark.parametrize(("case", "glob", "acct", "kill", "state", "commanded"), POSTURES,
                         ids=[p[0] for p in POSTURES])
def test_effective_posture(case: str, glob: ControlCommand | None, acct: ControlCommand | None, kill: bool,
                           state: TradingState, commanded: bool) -> None:
    assert effective_posture(glob, acct) == TradingPosture(kill, state, commanded)


@pytest.mark.parametrize(("posture", "by_default", "stopped"), [
    (TradingPosture(), True, False),                                  # nothing known: blocks, destroys nothing
    (TradingPosture(kill_switch=False), False, False),
    (TradingPosture(kill_switch=False, trading_state=REDUCING), False, False),
    (TradingPosture(kill_switch=False, trading_state=HALTED), False, True),
    (TradingPosture(kill_switch=True, kill_switch_commanded=True), False, True),
    (TradingPosture(trading_state=HALTED), True, True),               # an account HALTED before any global
])
def test_what_a_posture_says(posture: TradingPosture, by_default: bool, stopped: bool) -> None:
    assert posture.kill_switch_by_default is by_default
    assert posture.operator_stopped is stopped


def test_a_commanded_kill_switch_is_on() -> None:
    with pytest.raises(ValueError, match="commanded"):
        TradingPosture(kill_switch=False, kill_switch_commanded=True)


def test_posture_for_ignores_other_accounts_and_reads_the_global_once_for_the_global_scope() -> None:
    commands = {"global": GLOBAL_OFF, "other-account": cmd("other-account", kill=True, state=HALTED)}
    assert posture_for(commands, ACCOUNT) == TradingPosture(kill_switch=False)
    assert posture_for(commands, "global") == TradingPosture(kill_switch=False)
    assert posture_for({}, ACCOUNT) == TradingPosture()


commands = st.none() | st.builds(ControlCommand, command_id=st.just("c"), scope=st.just("s"),
                                 kill_switch=st.booleans(), trading_state=st.sampled_from(TradingState),
                                 issued_at=st.just(T0))


@given(commands, commands)
def test_the_combination_never_loosens_either_command(glob: ControlCommand | None,
                                                      acct: ControlCommand | None) -> None:
    posture = effective_posture(glob, acct)
    for command in (glob, acct):
        if command is not None:
            assert SEVERITY[posture.trading_state] >= SEVERITY[command.trading_state]
            assert posture.kill_switch or not command.kill_switch
    assert posture.kill_switch or glob is not None  # only a global command can lift the default
    if glob is not None and acct is not None:  # order does not matter once both are known
        swapped = effective_posture(acct, glob)
        assert (swapped.kill_switch, swapped.trading_state) == (posture.kill_switch, posture.trading_state)
