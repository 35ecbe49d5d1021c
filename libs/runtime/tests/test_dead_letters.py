"""A dead-letter copy always fits the producer's limit and says what was cut."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st
from torghut_contracts import headers as h
from torghut_runtime.dead_letters import RECORD_BUDGET, dead_letter_copy

DLQ = {h.DLQ_REASON: "malformed", h.DLQ_ERROR: "not JSON", h.DLQ_ORIGINAL_TOPIC: "torghut.ta.signals.v1",
       h.DLQ_ORIGINAL_PARTITION: "0", h.DLQ_ORIGINAL_OFFSET: "7", h.DLQ_ATTEMPTS: "1",
       h.DLQ_CONSUMER: "signal-trigger.records"}


def test_a_record_that_fits_is_copied_whole() -> None:
    copy = dead_letter_copy(b"{not json", b"AAPL", {"x-origin": "test"}, DLQ)
    assert copy.value == b"{not json" and copy.key == b"AAPL"
    assert copy.headers == {"x-origin": "test", **DLQ}


def test_a_value_just_under_a_mebibyte_is_cut_with_its_size_and_hash() -> None:
    value = b"x" * (1_048_576 - 100)
    copy = dead_letter_copy(value, b"AAPL", {"x-message-id": "m-1"}, DLQ)
    assert copy.size <= RECORD_BUDGET
    assert value.startswith(copy.value) and len(copy.value) > RECORD_BUDGET - 4096
    assert copy.headers[h.DLQ_TRUNCATED_FROM] == str(len(value))
    assert copy.headers[h.DLQ_ORIGINAL_SHA256] == hashlib.sha256(value).hexdigest()
    assert copy.headers["x-message-id"] == "m-1"


@settings(max_examples=60, deadline=None)
@given(value_size=st.integers(0, 1_200_000), key_size=st.integers(0, 5000),
       header_count=st.integers(0, 300), header_size=st.integers(0, 3000), error_size=st.integers(0, 20_000))
def test_every_copy_fits_and_keeps_the_dead_letter_headers(value_size: int, key_size: int, header_count: int,
                                                           header_size: int, error_size: int) -> None:
    value = bytes(i % 251 for i in range(value_size))
    original = {f"x-h{i}": "v" * header_size for i in range(header_count)}
    dlq = {**DLQ, h.DLQ_ERROR: "e" * error_size}
    copy = dead_letter_copy(value, b"k" * key_size, original, dlq)
    assert copy.size <= RECORD_BUDGET
    assert all(name in copy.headers for name in dlq)
    assert value.startswith(copy.value)
    if copy.value != value:
        assert copy.headers[h.DLQ_ORIGINAL_SHA256] == hashlib.sha256(value).hexdigest()
    kept = [name for name in original if name in copy.headers]
    assert len(kept) + int(copy.headers.get(h.DLQ_HEADERS_DROPPED, "0")) == header_count
