"""The committed JSON Schema snapshots refuse what the models refuse.

A producer written in another language validates against the snapshot, not the pydantic model. If
the snapshot accepted a value the services reject, that producer would pass its own checks and
still have its messages dead-lettered. So: every valid example passes the snapshot; every invalid
fixture fails both; and, for the number and text types, whatever the snapshot accepts the model
accepts too (the snapshot may be stricter: it asks for decimal strings, as the wire format says).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.examples import example

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def snapshot(topic: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / f"{topic}.json").read_text()))


def wire(topic: str) -> dict[str, Any]:
    return json.loads(topics.topic(topic).encode(example(topic)))


def model_accepts(topic: str, value: dict[str, Any]) -> bool:
    try:
        topics.topic(topic).decode(json.dumps(value))
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("spec", topics.ALL_TOPICS, ids=lambda s: s.name)
def test_every_example_passes_its_snapshot(spec: topics.TopicSpec) -> None:
    errors = [e.message for e in snapshot(spec.name).iter_errors(wire(spec.name))]
    assert errors == []


SIGNAL = topics.TA_SIGNALS.name
INVALID = [
    (SIGNAL, {"price": "-1"}),
    (SIGNAL, {"price": "0"}),
    (SIGNAL, {"price": "NaN"}),
    (SIGNAL, {"price": "Infinity"}),
    (SIGNAL, {"price": "1e999999"}),
    (SIGNAL, {"price": "twelve"}),
    (SIGNAL, {"price": True}),
    (SIGNAL, {"price": "1000000000000000"}),
    (SIGNAL, {"price": "0.000000000000000000001"}),
    (SIGNAL, {"bid_size": "-3"}),
    (SIGNAL, {"rsi14": "150"}),
    (SIGNAL, {"rsi14": "100.5"}),
    (SIGNAL, {"rsi14": "-1"}),
    (SIGNAL, {"seq": -1}),
    (SIGNAL, {"seq": 2**63}),
    (SIGNAL, {"symbol": "aapl"}),
    (SIGNAL, {"event_ts": "2026-02-12T15:31:02"}),
    (SIGNAL, {"source": "ta\u0000"}),
    (topics.TRIGGERS.name, {"request_id": "req\u0000-1"}),
    (topics.TRIGGERS.name, {"request_id": ""}),
    (topics.DECISIONS.name, {"confidence": "1.5"}),
    (topics.DECISIONS.name, {"confidence": "-0.1"}),
    (topics.DECISIONS.name, {"reason_codes": ["x" * 4001]}),
    (topics.GITHUB_ISSUE_EVENTS.name, {"issue_number": 2**31}),
    (topics.GITHUB_ISSUE_EVENTS.name, {"issue_number": 0}),
    (topics.ACCOUNT_SNAPSHOTS.name, {"equity": "1E+999999"}),
]


@pytest.mark.parametrize(("topic", "change"), INVALID, ids=lambda v: json.dumps(v)[:60])
def test_what_the_model_refuses_the_snapshot_refuses(topic: str, change: dict[str, Any]) -> None:
    value = {**wire(topic), **change}
    assert not model_accepts(topic, value)
    assert not snapshot(topic).is_valid(value)


DECIMAL_TEXT = st.one_of(
    st.from_regex(r"\A-?[0-9]{1,17}(\.[0-9]{0,23})?\Z"),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet="0123456789.-+eE", max_size=24),
)
DECIMAL_FIELDS = [
    (SIGNAL, "price"), (SIGNAL, "macd"), (SIGNAL, "volume"), (SIGNAL, "rsi14"),
    (topics.DECISIONS.name, "confidence"), (topics.ACCOUNT_SNAPSHOTS.name, "cash"),
]


@pytest.mark.parametrize(("topic", "field"), DECIMAL_FIELDS)
@settings(max_examples=300, deadline=None)
@given(text=DECIMAL_TEXT)
def test_a_decimal_the_snapshot_accepts_the_model_accepts(topic: str, field: str, text: str) -> None:
    value = {**wire(topic), field: text}
    if snapshot(topic).is_valid(value):
        assert model_accepts(topic, value), f"{field}={text!r}"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_an_identifier_the_snapshot_accepts_the_model_accepts(text: str) -> None:
    value = {**wire(topics.TRIGGERS.name), "request_id": text}
    if snapshot(topics.TRIGGERS.name).is_valid(value):
        assert model_accepts(topics.TRIGGERS.name, value), repr(text)


def test_decimals_travel_in_plain_notation() -> None:
    message = example(topics.ACCOUNT_SNAPSHOTS.name).model_copy(update={"cash": Decimal("1.0E+5")})
    assert json.loads(topics.ACCOUNT_SNAPSHOTS.encode(message))["cash"] == "100000"


def test_trailing_zeros_past_the_limit_are_not_precision() -> None:
    decoded = topics.TA_SIGNALS.decode(json.dumps({**wire(SIGNAL), "price": "1." + "0" * 30}))
    assert decoded.price == 1
