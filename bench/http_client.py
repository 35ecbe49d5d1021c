"""Benchmark: what one HTTP request costs the caller with httpx, the suite's HTTP client.

    uv run python -m bench.http_client [--requests 3000] [--concurrency 1,8,32]

A local Starlette app under uvicorn (its own process, so its CPU is not counted) answers a 1 KiB
POST with 2 KiB. The caller's CPU time per request (``time.process_time``) is what bounds a service
that makes calls per record: whitepaper-ingest makes three per run (the PDF download, the object
store upload, the AgentRun submission), the decision-client one per engine batch. Measured with
one shared ``AsyncClient`` at each concurrency, after 200 warm-up requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def answer(request):
    await request.body()
    return Response(b"x" * 2048, media_type="application/octet-stream")

uvicorn.run(Starlette(routes=[Route("/", answer, methods=["POST"])]), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _measure(url: str, requests: int, levels: list[int]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 30
        while True:  # the server is up once it answers
            try:
                (await client.post(url, content=b"")).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        for _ in range(200):
            await client.post(url, content=b"y" * 1024)
        for level in levels:
            gate = asyncio.Semaphore(level)

            async def one(gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    (await client.post(url, content=b"y" * 1024)).raise_for_status()

            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one() for _ in range(requests)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            figures[str(level)] = {"cpu_us_per_request": round(cpu / requests * 1e6), "requests_per_s": round(
                requests / wall)}
    return figures


def run(requests: int = 3000, levels: tuple[int, ...] = (1, 8, 32)) -> dict[str, Any]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        return asyncio.run(_measure(f"http://127.0.0.1:{port}/", requests, list(levels)))
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", default="1,8,32", help="requests in flight, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    figures = run(args.requests, tuple(int(level) for level in args.concurrency.split(",")))
    print("httpx, one shared AsyncClient, 1 KiB POST answered with 2 KiB by a local uvicorn")
    for level, figure in figures.items():
        print(f"  {level:>3} in flight   {figure['cpu_us_per_request']:>6} us of the caller's CPU per request, "
              f"{figure['requests_per_s']:>6} requests/s")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
