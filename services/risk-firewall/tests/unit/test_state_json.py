"""The account state survives its JSONB row whole: a restart resumes with the same exposure."""

from __future__ import annotations

import json
from datetime import timedelta

from torghut_contracts.enums import Side
from torghut_risk_firewall.adapters.portfolio_json import portfolio_from_json, portfolio_to_json
from torghut_risk_firewall.domain.state import Latch, OpenOrder, UnconfirmedFill
from torghut_risk_firewall.testing import NOW, D, portfolio


def test_every_field_round_trips() -> None:
    state = portfolio(
        positions={"AAPL": 10, "TSLA": -3}, position_marks={"AAPL": D("101.5")},
        open_orders=(OpenOrder("th-1", "MSFT", Side.BUY, D(5), D("410.1"), True),),
        latches=(Latch("daily_loss_stop", "loss 0.011", NOW),), recent_approvals=(NOW,),
        last_approval_by_symbol={"MSFT": NOW}, filled_by_order={"th-1": D(2)}, trading_day=NOW.date(),
        fills_through=NOW - timedelta(seconds=3),
        unconfirmed_fills=(UnconfirmedFill("AAPL", D(-4), D("100.25"), NOW - timedelta(seconds=1)),
                           UnconfirmedFill("TSLA", D(1), None, NOW)),
    )
    assert portfolio_from_json(state.account, json.loads(json.dumps(portfolio_to_json(state)))) == state


def test_a_row_written_before_the_fill_clock_reads_without_it() -> None:
    raw = portfolio_to_json(portfolio(positions={"AAPL": 10}))
    del raw["fills_through"], raw["unconfirmed_fills"]
    state = portfolio_from_json("paper-main", raw)
    assert state.fills_through is None and state.unconfirmed_fills == () and state.positions == {"AAPL": D(10)}
