"""``torghut.trade-updates.v1``'s Alpaca-named fields: optional, mirroring v1's, held to the snapshot.

That the example (and what the router publishes) parses with alpaca-py's own model is tested where
alpaca-py is a dependency: services/execution-router/tests/unit/test_trade_updates_as_alpaca.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_contracts.models.execution import (
    EXECUTION_ID_NAMESPACE,
    ORDER_ID_NAMESPACE,
    OrderClass,
    derived_execution_id,
    derived_order_id,
)

TOPIC = topics.TRADE_UPDATES.name
SNAPSHOT = Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / f"{TOPIC}.json").read_text()))
ALPACA_FIELDS = {"price", "qty", "execution_id"}
ALPACA_ORDER_FIELDS = {"id", "created_at", "extended_hours", "order_class", "type"}


def wire() -> dict[str, Any]:
    return json.loads(topics.TRADE_UPDATES.encode(example(TOPIC)))


def with_order(**change: Any) -> dict[str, Any]:
    body = wire()
    return {**body, "order": {**body["order"], **change}}


def model_accepts(body: dict[str, Any]) -> bool:
    try:
        topics.TRADE_UPDATES.decode(json.dumps(body))
    except ValidationError:
        return False
    return True


def test_the_example_carries_alpacas_names_for_the_same_facts() -> None:
    update = example(TOPIC)
    assert (update.price, update.qty) == (update.fill_price, update.fill_qty)
    assert update.order.type is update.order.order_type
    assert update.order.id == derived_order_id(update.order.client_order_id)
    assert update.execution_id == derived_execution_id(update.fingerprint)
    assert None not in (update.order.created_at, update.order.submitted_at, update.order.updated_at)
    assert (update.order.extended_hours, update.order.order_class) == (False, OrderClass.SIMPLE)


def test_the_alpaca_fields_are_optional_so_a_message_from_before_them_still_reads() -> None:
    body = wire()
    for name in ALPACA_FIELDS:
        del body[name]
    for name in ALPACA_ORDER_FIELDS:
        del body["order"][name]
    assert SNAPSHOT.is_valid(body)
    update = topics.TRADE_UPDATES.decode(json.dumps(body))
    assert (update.price, update.qty, update.execution_id, update.order.id, update.order.type) == (None,) * 5
    assert (update.order.extended_hours, update.order.order_class) == (False, OrderClass.SIMPLE)


def test_the_derived_ids_are_pinned() -> None:
    """Consumers may compute them; changing a namespace would change every id a replay produces."""
    assert ORDER_ID_NAMESPACE == uuid.UUID("1eb59601-d89f-57aa-ad43-645c27642efe")
    assert EXECUTION_ID_NAMESPACE == uuid.UUID("902fd40b-60ab-5348-8b8f-ed4c0ae7e545")
    assert derived_order_id("th-0123456789abcdef0123456789abcd") == uuid.UUID("8c9c59a5-ecb5-52be-aab7-8ee98b7ddc23")


@pytest.mark.parametrize("change", [
    {"id": "paper-630c0d95b526143224ffb4e8"}, {"id": "8c9c59a5-ecb5-52be-aab7-8ee98b7ddc23\n"},
    {"order_class": "complex"}, {"type": "stop"}, {"created_at": "2026-02-12T15:31:02"},
], ids=lambda c: json.dumps(c)[:40])
def test_what_the_model_refuses_in_the_order_the_snapshot_refuses(change: dict[str, Any]) -> None:
    body = with_order(**change)
    assert not model_accepts(body)
    assert not SNAPSHOT.is_valid(body)


@pytest.mark.parametrize("change", [{"price": "0"}, {"qty": "-1"}, {"execution_id": "exec-1"}],
                         ids=lambda c: json.dumps(c))
def test_what_the_model_refuses_at_the_top_the_snapshot_refuses(change: dict[str, Any]) -> None:
    body = {**wire(), **change}
    assert not model_accepts(body)
    assert not SNAPSHOT.is_valid(body)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
                      st.from_regex(r"\A[0-9a-fA-F-]{30,40}\n?\Z"), st.text(max_size=40)))
def test_a_uuid_the_snapshot_accepts_the_model_accepts(text: str) -> None:
    body = with_order(id=text)
    if SNAPSHOT.is_valid(body):
        assert model_accepts(body), repr(text)
