"""Hostile HTTP input, refused at the door with a 4xx that says why, never a 5xx.

A 5xx tells a caller to try again: GitHub redelivers a webhook for ever, a client retries a stream
elsewhere. Input that can never succeed must say so with a 4xx instead. Three layers:

* :class:`RequestLimits`, an ASGI middleware every service's app runs behind: a path or query with
  control characters (a NUL in a run id reaches Postgres as an error) or over its length is a 400,
  and no body is read past ``max_body_bytes`` (413), whether it declares a ``Content-Length`` or
  arrives chunked, so a 200 MB upload never sits in memory;
* :func:`read_body`, the per-route limit, counted while the body streams in;
* :func:`parse_json`: the JSON parser with a nesting limit (pydantic-core's parser stops at 200
  levels by itself, where ``json.loads`` raises ``RecursionError`` deep in the stack), no NaN or
  Infinity, no NUL or lone surrogate in any string (Postgres cannot store them), at most
  :data:`MAX_JSON_DEPTH` levels.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pydantic_core
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_JSON_DEPTH = 64
MAX_PATH_CHARS = 2048
MAX_QUERY_BYTES = 8192
DEFAULT_MAX_BODY_BYTES = 1_048_576

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpInputError(Exception):
    """Input that can never be served: ``status`` is a 4xx, ``code`` a stable word, ``detail`` says why."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "detail": self.detail[:1000]}, status_code=self.status)


def _too_large(limit: int) -> HttpInputError:
    return HttpInputError(413, "payload_too_large", f"the body exceeds {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) on a declared ``Content-Length`` over ``limit`` or once more arrives."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HttpInputError(400, "bad_request", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def parse_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH, nul_allowed: bool = False) -> Any:
    """The JSON value of ``body``; :class:`HttpInputError` (400) for anything a store could not keep.

    ``nul_allowed`` lets NUL through for a caller whose store replaces it (authentic text, such as a
    signed GitHub delivery, is better kept with a replacement character than refused)."""
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        message = str(exc)
        if "recursion limit" in message:
            raise HttpInputError(400, "nested_too_deep", f"JSON nested deeper than {max_depth} levels") from None
        raise HttpInputError(400, "malformed_json", f"malformed JSON: {message}") from None
    problem = _unstorable(value, max_depth, nul_allowed)
    if problem is not None:
        raise HttpInputError(400, "nested_too_deep" if "deeper" in problem else "unstorable_json", problem)
    return value


def parse_json_object(body: bytes, *, max_depth: int = MAX_JSON_DEPTH, nul_allowed: bool = False) -> dict[str, Any]:
    value = parse_json(body, max_depth=max_depth, nul_allowed=nul_allowed)
    if not isinstance(value, dict):
        raise HttpInputError(400, "malformed_json", f"the body must be a JSON object, got {type(value).__name__}")
    return value


def _unstorable(value: Any, max_depth: int, nul_allowed: bool) -> str | None:
    """Why a parsed value cannot be kept (too deep, a NUL or lone surrogate in a string), or None."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            if not _clean(item, nul_allowed):
                return f"{where or '<body>'}: strings must not contain NUL or a lone surrogate"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"JSON nested deeper than {max_depth} levels (at {where or '<body>'})"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not _clean(key, nul_allowed):
                    return f"{path}: keys must not contain NUL or a lone surrogate"
                stack.append((child, depth + 1, path))
    return None


def _clean(text: str, nul_allowed: bool = False) -> bool:
    return (nul_allowed or "\x00" not in text) and not any("\ud800" <= ch <= "\udfff" for ch in text)


class RequestLimits:
    """ASGI middleware: refuse a hostile path, query or body before any route sees it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _too_large(self.max_body_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except HttpInputError as exc:
            if started:
                raise
            await exc.response()(scope, receive, send)

    def _refusal(self, scope: Scope) -> HttpInputError | None:
        path: str = scope.get("path", "")
        if len(path) > MAX_PATH_CHARS:
            return HttpInputError(414, "uri_too_long", f"the path exceeds {MAX_PATH_CHARS} characters")
        if any(ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff" for ch in path):
            return HttpInputError(400, "bad_path", "the path contains a control character")
        query: bytes = scope.get("query_string", b"")
        if len(query) > MAX_QUERY_BYTES:
            return HttpInputError(414, "uri_too_long", f"the query exceeds {MAX_QUERY_BYTES} bytes")
        if b"%00" in query or any(byte < 0x20 for byte in query):
            return HttpInputError(400, "bad_query", "the query contains a control character")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.strip().isdigit() and int(value) > self.max_body_bytes:
                return _too_large(self.max_body_bytes)
        return None
