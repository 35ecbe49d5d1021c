"""The HTTP side of every service: ``/healthz``, ``/readyz`` and ``/metrics`` beside its own routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Probe = Callable[[], Awaitable[dict[str, bool]]]


def probe_routes(liveness: Probe, readiness: Probe, registry: CollectorRegistry) -> list[BaseRoute]:
    async def healthz(_: Request) -> Response:
        checks = await liveness()
        return JSONResponse({"status": "ok" if all(checks.values()) else "failing", "checks": checks},
                            status_code=200 if all(checks.values()) else 503)

    async def readyz(_: Request) -> Response:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
