"""Bits both HTTP surfaces share: a size-capped body reader and JSON error answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


class BadRequest(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing early on a declared Content-Length over ``limit`` and on the bytes that arrive."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(f"Content-Length {declared} exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
    return bytes(body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def error(status: int, code: str, detail: str = "", **extra: Any) -> JSONResponse:
    content: dict[str, Any] = {"error": code, **extra}
    if detail:
        content["detail"] = detail[:1000]
    return JSONResponse(content, status_code=status)
