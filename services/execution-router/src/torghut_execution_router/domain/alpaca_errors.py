"""How the router reads an Alpaca error: refused, a duplicate to look up, throttled, or ambiguous.

Upstream maps 400/401/403/404/422 to explicit rejections and treats everything else as "broker I/O
ambiguous" (reference §4.6). A 5xx or a timeout after the request was sent may have placed the order,
so it is never reported as rejected before a lookup by client_order_id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    REJECTED = "rejected"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    RATE_LIMITED = "rate_limited"
    AMBIGUOUS = "ambiguous"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ErrorReading:
    kind: ErrorKind
    reason: str


_REFUSALS = {400, 401, 403, 404, 422}


def read_submit_error(status: int | None, code: int | None, message: str) -> ErrorReading:
    text = (message or "").strip()
    lowered = text.lower()
    if "client_order_id must be unique" in lowered:
        return ErrorReading(ErrorKind.DUPLICATE_CLIENT_ORDER_ID, "client_order_id_not_unique")
    if status == 429:
        return ErrorReading(ErrorKind.RATE_LIMITED, "alpaca_http_429")
    if status in _REFUSALS:
        slug = _slug(lowered) or f"http_{status}"
        return ErrorReading(ErrorKind.REJECTED, f"alpaca_{status}:{slug}"[:200])
    return ErrorReading(ErrorKind.AMBIGUOUS, f"alpaca_http_{status}" if status else "alpaca_transport_error")


def read_lookup_error(status: int | None) -> ErrorReading:
    if status == 404:
        return ErrorReading(ErrorKind.NOT_FOUND, "alpaca_order_not_found")
    if status == 429:
        return ErrorReading(ErrorKind.RATE_LIMITED, "alpaca_http_429")
    return ErrorReading(ErrorKind.AMBIGUOUS, f"alpaca_http_{status}" if status else "alpaca_transport_error")


def _slug(text: str) -> str:
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() else "_")
    return "_".join(part for part in "".join(out).split("_") if part)[:120]
