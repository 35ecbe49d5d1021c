"""The pure replay rules as tables."""

from __future__ import annotations

import pytest
from torghut_cli.control import latest_by_scope, next_command
from torghut_cli.windows import (
    ProductionTopicRefused,
    guard_target,
    pacing_delays,
    provenance_headers,
    sandbox_name,
)
from torghut_contracts.enums import TradingState


@pytest.mark.parametrize(
    ("topic", "force", "refused"),
    [
        ("torghut.decisions.v1", False, True),
        ("torghut.decisions.v1.dlq", False, True),
        ("torghut.decisions.v1", True, False),
        ("sandbox.replay.torghut.decisions.v1", False, False),
    ],
)
def test_production_topics_need_force(topic: str, force: bool, refused: bool) -> None:
    if refused:
        with pytest.raises(ProductionTopicRefused, match="--force"):
            guard_target(topic, force=force)
    else:
        guard_target(topic, force=force)


def test_sandbox_names() -> None:
    assert sandbox_name("sandbox.day1", "torghut.decisions.v1") == "sandbox.day1.torghut.decisions.v1"
    assert sandbox_name("sandbox.day1.", "torghut.decisions.v1") == "sandbox.day1.torghut.decisions.v1"


def test_pacing() -> None:
    assert list(pacing_delays([0, 1000, 3000], None)) == [0, 0, 0]
    assert list(pacing_delays([0, 1000, 3000], 2.0)) == [0, 0.5, 1.0]
    assert list(pacing_delays([0, 1000, 500, 2000], 1.0)) == [0, 1.0, 0, 1.0]


def test_provenance_keeps_the_first_origin() -> None:
    once = provenance_headers({"a": "b"}, topic="t1", partition=2, offset=9)
    twice = provenance_headers(once, topic="sandbox.x.t1", partition=0, offset=0)
    assert twice["x-replay-original-topic"] == "t1" and twice["x-replay-original-offset"] == "9"


def test_control_commands_keep_what_they_do_not_change() -> None:
    first = next_command(None, scope="global", kill_switch=False)
    assert first.kill_switch is False and first.trading_state is TradingState.ACTIVE
    second = next_command(first, scope="global", trading_state=TradingState.HALTED)
    assert second.kill_switch is False and second.trading_state is TradingState.HALTED
    untouched = next_command(None, scope="acct-1", trading_state=TradingState.REDUCING)
    assert untouched.kill_switch is True, "no history means the kill switch is on"
    assert latest_by_scope([first, second, untouched]) == {"global": second, "acct-1": untouched}


def test_consumer_groups_map_to_their_topics() -> None:
    from torghut_cli.commands.status import _topic_of_group

    assert _topic_of_group("risk-firewall.torghut.decisions.v1") == "torghut.decisions.v1"
    assert _topic_of_group("sandbox.day1.risk-firewall.torghut.decisions.v1") == "sandbox.day1.torghut.decisions.v1"
    assert _topic_of_group("someone-elses-group") is None
