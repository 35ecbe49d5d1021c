"""Hostile HTTP input is refused with a 4xx that says why, and a body is never read past its limit."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_runtime.http_input import HttpInputError, RequestLimits, parse_json, parse_json_object

REFUSED = [
    (b"{nope", "malformed_json"),
    (b'{"a": NaN}', "malformed_json"),
    (b'{"a": Infinity}', "malformed_json"),
    (b'{"a": "\\ud800"}', "malformed_json"),
    (b"[" * 100_000 + b"]" * 100_000, "nested_too_deep"),
    (b"[" * 65 + b"]" * 65, "nested_too_deep"),
    (b'{"a": {"b": "x\\u0000y"}}', "unstorable_json"),
    (b'{"a\\u0000": 1}', "unstorable_json"),
]


@pytest.mark.parametrize(("body", "code"), REFUSED, ids=lambda v: repr(v)[:40])
def test_json_nothing_can_store_is_a_400_with_its_reason(body: bytes, code: str) -> None:
    with pytest.raises(HttpInputError) as caught:
        parse_json(body)
    assert (caught.value.status, caught.value.code) == (400, code)


def test_json_within_the_limits_is_parsed() -> None:
    assert parse_json(b"[" * 64 + b"]" * 64) is not None
    assert parse_json_object(b'{"a": [1, "\xc3\xa9", {"b": null}]}') == {"a": [1, "é", {"b": None}]}
    with pytest.raises(HttpInputError, match="JSON object"):
        parse_json_object(b"[1]")


async def echo_length(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def app(limit: int) -> Starlette:
    return Starlette(routes=[Route("/echo", echo_length, methods=["POST"]), Route("/runs/{run_id}", echo_length)],
                     middleware=[Middleware(RequestLimits, max_body_bytes=limit)])


async def call(asgi: Any, path: str, chunks: int, chunk: bytes = b"x" * 1_048_576,
               headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, int]:
    """Send ``chunks`` body chunks (as a chunked upload arrives); return the status and chunks pulled."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers or [], "http_version": "1.1", "scheme": "http", "root_path": "",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}
    await asgi(scope, receive, send)
    return sent[0]["status"], pulled


async def test_a_200_mb_chunked_body_is_refused_after_the_limit_not_read_whole() -> None:
    status, pulled = await call(app(1_048_576), "/echo", chunks=200)
    assert status == 413
    assert pulled == 2, "reading stopped at the first chunk past the limit"


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    status, pulled = await call(app(1_048_576), "/echo", chunks=1, headers=[(b"content-length", b"209715200")])
    assert (status, pulled) == (413, 0)


async def test_a_body_within_the_limit_reaches_the_route() -> None:
    assert await call(app(1_048_576), "/echo", chunks=1, chunk=b"x" * 1000) == (200, 1)


@pytest.mark.parametrize(("path", "status"), [("/runs/a\x00b", 400), ("/runs/" + "a" * 3000, 414),
                                              ("/runs/\x1b[31m", 400)])
async def test_a_hostile_path_is_refused_before_any_route(path: str, status: int) -> None:
    assert (await call(app(1024), path, chunks=1, chunk=b""))[0] == status


@pytest.fixture
async def served() -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app(1_048_576), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_a_real_server_answers_a_200_mb_chunked_upload_with_413_in_bounded_memory(served: str) -> None:
    baseline, peak = rss_mb(), 0.0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal peak
        for _ in range(200):
            peak = max(peak, rss_mb())
            yield b"x" * 1_048_576

    async with httpx.AsyncClient(base_url=served, timeout=60) as client:
        response = await client.post("/echo", content=upload())
        assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
        assert peak - baseline < 100, f"the server held the upload: RSS grew {peak - baseline:.0f} MB"
        assert (await client.post("/echo", content=b"{}")).json() == {"bytes": 2}, "the connection is still served"
