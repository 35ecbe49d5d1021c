"""A control form from the page: what is refused and the full command an accepted one becomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from torghut_contracts.enums import TradingState
from torghut_contracts.models import ControlCommand
from torghut_operator_console.domain.control import (
    BadControlRequest,
    ControlRequest,
    command_for,
    parse_control_form,
)

NOW = datetime(2026, 2, 12, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("form", "message"), [
    ({}, "exactly one of"),
    ({"kill_switch": "on", "trading_state": "HALTED"}, "exactly one of"),
    ({"kill_switch": "yes"}, "'on' or 'off'"),
    ({"trading_state": "PAUSED"}, "ACTIVE, REDUCING, HALTED"),
    ({"kill_switch": "on", "scope": "glo bal"}, "scope"),
    ({"kill_switch": "on", "scope": "x" * 65}, "scope"),
    ({"kill_switch": "on", "reason": "r" * 501}, "reason"),
])
def test_a_form_that_is_not_one_clear_change_is_refused_saying_why(form: dict[str, str], message: str) -> None:
    with pytest.raises(BadControlRequest, match=message):
        parse_control_form(form)


def test_a_form_names_its_scope_change_and_reason() -> None:
    assert parse_control_form({"scope": "paper-main", "trading_state": "REDUCING", "reason": " close out "}) == \
        ControlRequest("paper-main", None, TradingState.REDUCING, "close out")
    assert parse_control_form({"kill_switch": "off"}) == ControlRequest("global", False, None, "")


def test_changing_one_field_keeps_the_other_as_the_latest_command_had_it() -> None:
    current = ControlCommand(command_id="c1", scope="global", kill_switch=False, trading_state=TradingState.REDUCING,
                             issued_at=NOW)
    command = command_for(ControlRequest("global", True, None, "fat finger"), current, command_id="c2",
                          issued_by="console:ana", issued_at=NOW)
    assert (command.kill_switch, command.trading_state, command.issued_by, command.reason) == \
        (True, TradingState.REDUCING, "console:ana", "fat finger")


def test_a_scope_without_history_starts_from_the_safe_posture() -> None:
    command = command_for(ControlRequest("paper-2", None, TradingState.HALTED, ""), None, command_id="c3",
                          issued_by="console:ana", issued_at=NOW)
    assert (command.kill_switch, command.trading_state) == (True, TradingState.HALTED)
