"""The copy of a record that goes to a dead-letter topic, made to fit the broker's size limit.

A dead-letter write must not fail for the record's own sake: a poison record just under the
broker's limit plus the DLQ's headers is over it, and a copy the producer refuses leaves the record
where it was, retried for ever while the partition stands still. So the copy is cut to fit
:data:`RECORD_BUDGET`: the original's headers are kept while they fit (each value at most
:data:`MAX_HEADER_VALUE` characters), the DLQ's own headers always, and the value is truncated last,
with its original size and SHA-256 in headers so an operator can still match it to its source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from torghut_contracts import headers as h

PRODUCER_MAX_REQUEST_BYTES = 1_048_576
"""aiokafka's ``max_request_size`` default, just under Kafka's ``message.max.bytes`` (1,048,588)."""
RECORD_BUDGET = PRODUCER_MAX_REQUEST_BYTES - 16_384
"""What one dead-letter record may take: the request less room for the batch's and record's framing."""
MAX_HEADER_VALUE = 1024
MAX_KEY_BYTES = 1024
ORIGINAL_HEADERS_BUDGET = 64 * 1024
_PER_HEADER_OVERHEAD = 10  # varint lengths of a header's name and value


@dataclass(frozen=True)
class DeadLetterCopy:
    value: bytes
    key: bytes | None
    headers: dict[str, str]

    @property
    def size(self) -> int:
        return len(self.value) + len(self.key or b"") + headers_size(self.headers)


def headers_size(headers: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) + _PER_HEADER_OVERHEAD for k, v in headers.items())


def _shorten(text: str, limit: int) -> str:
    encoded = text.encode()
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", "ignore")


def dead_letter_copy(value: bytes, key: bytes | None, original_headers: Mapping[str, str],
                     dlq_headers: Mapping[str, str], *, budget: int = RECORD_BUDGET) -> DeadLetterCopy:
    """The record as it goes to the DLQ: whole when it fits in ``budget`` bytes, else cut to fit."""
    headers: dict[str, str] = {}
    dropped = 0
    room = ORIGINAL_HEADERS_BUDGET
    for name, text in original_headers.items():
        if name in dlq_headers:
            continue
        name, text = _shorten(name, MAX_HEADER_VALUE), _shorten(text, MAX_HEADER_VALUE)
        cost = headers_size({name: text})
        if cost > room:
            dropped += 1
            continue
        headers[name] = text
        room -= cost
    if dropped:
        headers[h.DLQ_HEADERS_DROPPED] = str(dropped)
    headers.update({name: _shorten(text, 4000) for name, text in dlq_headers.items()})
    key = key[:MAX_KEY_BYTES] if key is not None else None
    fixed = len(key or b"") + headers_size(headers)
    if len(value) + fixed > budget:
        headers[h.DLQ_TRUNCATED_FROM] = str(len(value))
        headers[h.DLQ_ORIGINAL_SHA256] = hashlib.sha256(value).hexdigest()
        value = value[:max(0, budget - len(key or b"") - headers_size(headers))]
    return DeadLetterCopy(value, key, headers)
