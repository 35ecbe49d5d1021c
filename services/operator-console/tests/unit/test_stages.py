"""The one line each pipeline message gets in the chain view."""

from __future__ import annotations

from torghut_contracts import topics
from torghut_contracts.enums import OrderStatus, TradeEvent
from torghut_contracts.examples import example
from torghut_operator_console.domain.stages import Stage, describe


def test_each_pipeline_message_is_a_hop_of_its_stage_saying_what_an_operator_checks() -> None:
    hops = {spec.name: describe(example(spec.name)) for spec in (
        topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED,
        topics.TRADE_UPDATES)}
    assert {name: hop.stage for name, hop in hops.items() if hop} == {
        topics.TA_SIGNALS.name: Stage.SIGNALS, topics.TRIGGERS.name: Stage.TRIGGERS,
        topics.DECISIONS.name: Stage.DECISIONS, topics.RISK_VERDICTS.name: Stage.VERDICTS,
        topics.ORDERS_APPROVED.name: Stage.ORDERS, topics.TRADE_UPDATES.name: Stage.FILLS}
    assert "kill_switch_enabled" in hops[topics.RISK_VERDICTS.name].summary  # type: ignore[union-attr]
    assert "at 160.27" in hops[topics.TRADE_UPDATES.name].summary  # type: ignore[union-attr]
    assert "mark 160.25" in hops[topics.TA_SIGNALS.name].summary  # type: ignore[union-attr]


def test_an_order_event_without_a_fill_is_in_the_chain_but_not_a_fill() -> None:
    update = example(topics.TRADE_UPDATES.name)
    accepted = update.model_copy(update={"event": TradeEvent.NEW, "fill_qty": None, "fill_price": None,
                                         "order": update.order.model_copy(update={"status": OrderStatus.NEW})})
    hop = describe(accepted)
    assert hop is not None and hop.stage is Stage.ORDER_EVENTS and "new" in hop.summary


def test_messages_outside_the_pipeline_make_no_hop() -> None:
    assert describe(example(topics.CONTROL.name)) is None
    assert describe(example(topics.ACCOUNT_SNAPSHOTS.name)) is None
