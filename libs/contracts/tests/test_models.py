"""Every topic's model round-trips, and bad input is refused with a field-level error."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.examples import all_examples, example
from torghut_contracts.models import ControlCommand, DecisionIntent, OrderConstraints, QuantityClamp, TaSignal


@pytest.mark.parametrize("spec", topics.ALL_TOPICS, ids=lambda s: s.name)
def test_every_topic_round_trips(spec: topics.TopicSpec) -> None:
    message = example(spec.name)
    wire = spec.encode(message)
    assert spec.decode(wire) == message
    assert spec.key(message)


def test_every_topic_has_an_example_and_a_dlq() -> None:
    assert set(all_examples()) == {s.name for s in topics.ALL_TOPICS}
    for spec in topics.ALL_TOPICS:
        assert spec.dlq.name == spec.name + ".dlq"
        assert spec.version == 1


def test_money_travels_as_strings() -> None:
    wire = json.loads(topics.ACCOUNT_SNAPSHOTS.encode(example(topics.ACCOUNT_SNAPSHOTS.name)))
    assert wire["equity"] == "100000"
    assert wire["positions"][0]["qty"] == "10"


def test_timestamps_are_normalised_to_utc() -> None:
    signal = TaSignal.model_validate({"symbol": "AAPL", "event_ts": "2026-02-12T10:31:02-05:00", "seq": 1})
    assert signal.event_ts.isoformat() == "2026-02-12T15:31:02+00:00"


def test_a_newer_producer_with_an_extra_optional_field_is_still_read() -> None:
    wire = json.loads(topics.TRIGGERS.encode(example(topics.TRIGGERS.name)))
    wire["added_in_a_later_release"] = {"anything": [1, 2]}
    assert topics.TRIGGERS.decode(json.dumps(wire)).request_id == wire["request_id"]


def test_control_topic_is_compacted_with_one_partition() -> None:
    assert topics.CONTROL.config["cleanup.policy"] == "compact"
    assert topics.CONTROL.partitions == 1


SIGNAL = {"symbol": "AAPL", "event_ts": "2026-02-12T15:31:02Z", "seq": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": float("nan")}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"price": True}, "price"),
        ({"bid_size": "-3"}, "bid_size"),
        ({"event_ts": "2026-02-12T15:31:02"}, "event_ts"),
        ({"symbol": "aapl"}, "symbol"),
        ({"symbol": "TOOLONGSYM"}, "symbol"),
        ({"symbol": ""}, "symbol"),
        ({"seq": -1}, "seq"),
        ({"rsi14": "101"}, "rsi14"),
    ],
)
def test_bad_signal_fields_are_rejected_by_name(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TaSignal.model_validate({**SIGNAL, **change})
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    "intent",
    [
        {"action": "short_squeeze", "qty": "1"},
        {"action": "buy", "qty": "-5"},
        {"action": "buy", "qty": "NaN"},
        {"action": "buy", "qty": "0"},
        {"action": "hold", "qty": "3"},
        {"action": "buy", "qty": "1", "order": {"order_type": "limit"}},
        {"action": "buy", "qty": "1", "order": {"order_type": "stop_loss_hunt"}},
        {"action": "buy", "qty": "1", "adapter_hint": "robinhood"},
    ],
)
def test_bad_intents_are_rejected(intent: dict) -> None:
    with pytest.raises(ValidationError):
        DecisionIntent.model_validate(intent)


def test_unknown_enum_on_the_wire_is_a_validation_error_naming_the_field() -> None:
    wire = json.loads(topics.DECISIONS.encode(example(topics.DECISIONS.name)))
    wire["intent"]["action"] = "yolo"
    with pytest.raises(ValidationError) as caught:
        topics.DECISIONS.decode(json.dumps(wire))
    assert caught.value.errors()[0]["loc"] == ("intent", "action")


def test_malformed_json_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        topics.TA_SIGNALS.decode(b"{not json")
    assert caught.value.errors()[0]["type"] == "json_invalid"


def test_clamp_only_goes_down() -> None:
    QuantityClamp(requested_qty=Decimal(10), approved_qty=Decimal(4), reason_codes=["max_position"])
    with pytest.raises(ValidationError):
        QuantityClamp(requested_qty=Decimal(10), approved_qty=Decimal(11), reason_codes=["x"])


def test_limit_orders_carry_a_price_and_market_orders_do_not() -> None:
    assert OrderConstraints(order_type="limit", limit_price=Decimal("10")).limit_price == Decimal("10")
    with pytest.raises(ValidationError):
        OrderConstraints(order_type="market", limit_price=Decimal("10"))


def test_topic_lookup_accepts_a_sandbox_prefix() -> None:
    assert topics.topic("sandbox.replay1.torghut.decisions.v1") is topics.DECISIONS
    with pytest.raises(KeyError):
        topics.topic("torghut.nope.v1")


def test_encode_refuses_the_wrong_model() -> None:
    with pytest.raises(TypeError):
        topics.TRIGGERS.encode(example(topics.TA_SIGNALS.name))


@pytest.mark.parametrize(("text", "refused"), [
    ("plain", None), ("émoji 😀 and CJK 漢字", None), ("a lone high \ud83d half", "unicode string"),
    ("\udfff", "unicode string"), ("nul \x00 inside", "NUL")])
def test_text_fields_refuse_what_postgres_or_utf8_cannot_hold(text: str, refused: str | None) -> None:
    command = {"command_id": "c1", "scope": "global", "kill_switch": False, "trading_state": "ACTIVE",
               "issued_at": "2026-02-12T15:31:02Z", "reason": text}
    if refused is None:
        assert ControlCommand.model_validate(command).reason == text
        return
    with pytest.raises(ValidationError, match=refused):
        ControlCommand.model_validate(command)


@pytest.mark.parametrize("value", ["a\x00b", "tab\there", "a\x1fb", "del\x7f", "not-utf8-\ufffd"])
def test_an_id_header_with_a_control_character_or_undecodable_bytes_is_refused(value: str) -> None:
    for name in (h.MESSAGE_ID, h.CORRELATION_ID, h.CAUSATION_ID):
        problem = h.id_header_problem({name: value})
        assert problem is not None and name in problem


def test_an_id_header_of_printable_text_in_any_script_is_taken() -> None:
    assert h.id_header_problem({h.MESSAGE_ID: "req-ü-日本-~ x", h.CORRELATION_ID: "c" * h.MAX_ID_LENGTH}) is None
    assert h.id_header_problem({h.MESSAGE_ID: "c" * (h.MAX_ID_LENGTH + 1)}) is not None
