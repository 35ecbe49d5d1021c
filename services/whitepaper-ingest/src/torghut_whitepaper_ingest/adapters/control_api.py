"""The operator's control API under ``/whitepapers``, behind a bearer token.

The token is ``WHITEPAPER_WORKFLOW_API_TOKEN`` (falling back to ``JANGAR_API_KEY``), sent as
``Authorization: Bearer <token>`` or ``X-Whitepaper-Token``, compared in constant time. With no
token configured every route answers **503** ``control_api_token_not_configured``: upstream left the
routes open in that case; here they fail closed, and 503 (not 401) says the fault is the
deployment's, not the caller's.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from torghut_runtime.http_input import HttpInputError, parse_json_object, read_body
from torghut_runtime.lane_topics import Gate
from torghut_runtime.outbox import Outbox

from ..domain import ids
from ..domain.finalize import FinalizePayload
from ..domain.intake import Rejected, interpret
from ..domain.status import IllegalTransition
from ..domain.webhook import HANDLED_EVENTS, NotAnIssueEvent, infer_event_name, issue_event
from ..metrics import WhitepaperMetrics
from ..settings import WhitepaperSettings
from ..workflow import DispatchRefused, RunNotFound, Workflow
from . import run_store, work_store
from .http_common import error, refused
from .webhook import PublishIssueEvent, issue_event_headers

log = structlog.get_logger("torghut.whitepaper.control")
RUN_ID = re.compile(r"^wp-[0-9a-f]{24}$")
Endpoint = Callable[[Request], Awaitable[Response]]


def presented_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    header = request.headers.get("x-whitepaper-token", "").strip()
    return header or None


def token_matches(expected: str, presented: str | None) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


class ControlApi:
    def __init__(self, *, settings: WhitepaperSettings, engine: AsyncEngine, workflow: Workflow, outbox: Outbox,
                 publish: PublishIssueEvent, metrics: WhitepaperMetrics, worker_registered: bool,
                 object_store_kind: str, workflow_enabled: Callable[[], bool] | None = None,
                 worker_gate: Gate | None = None) -> None:
        self.settings = settings
        self._workflow_enabled = workflow_enabled or (lambda: settings.whitepaper_workflow_enabled)
        self.engine = engine
        self.workflow = workflow
        self.outbox = outbox
        self.publish = publish
        self.metrics = metrics
        self.worker_registered = worker_registered
        self.worker_gate = worker_gate
        self.object_store_kind = object_store_kind

    @property
    def worker_running(self) -> bool:
        """The worker handles issue events now: subscribed, and not held by the workflow flag."""
        return self.worker_registered and (self.worker_gate is None or self.worker_gate.is_open)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/whitepapers/status", self._guard("status", self.status), methods=["GET"]),
            Route("/whitepapers/events/github-issue", self._guard("replay", self.replay), methods=["POST"]),
            Route("/whitepapers/runs/{run_id}/dispatch-agentrun", self._guard("dispatch", self.dispatch),
                  methods=["POST"]),
            Route("/whitepapers/runs/{run_id}/finalize", self._guard("finalize", self.finalize), methods=["POST"]),
            Route("/whitepapers/runs/{run_id}", self._guard("run", self.run), methods=["GET"]),
        ]

    def _guard(self, name: str, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            expected = self.settings.control_token
            if expected is None:
                response: Response = error(503, "control_api_token_not_configured",
                                           "set WHITEPAPER_WORKFLOW_API_TOKEN (or JANGAR_API_KEY)")
            elif not token_matches(expected, presented_token(request)):
                response = error(401, "whitepaper_control_auth_required")
                response.headers["WWW-Authenticate"] = 'Bearer realm="whitepapers"'
            else:
                response = await endpoint(request)
            self.metrics.control.labels(route=name, outcome=str(response.status_code)).inc()
            return response

        return guarded

    # -- routes ---------------------------------------------------------------------------------
    async def status(self, _: Request) -> Response:
        async with self.engine.connect() as conn:
            counts = await run_store.counts_by_status(conn)
            unpublished = await run_store.unpublished_count(conn)
            waiting = await work_store.waiting(conn)
        s = self.settings
        return JSONResponse({
            "workflow_enabled": self._workflow_enabled(),
            "worker_running": self.worker_running,
            "worker_registered": self.worker_registered,
            "agentrun_auto_dispatch": self.workflow.auto_dispatch,
            "requeue_comment_keyword": s.whitepaper_requeue_comment_keyword,
            "control_auth_enabled": True,
            "object_store": self.object_store_kind,
            "agentrun_submit_url": s.whitepaper_agentrun_submit_url,
            "runs_by_status": counts,
            "unpublished_run_events": unpublished,
            "runs_with_work_waiting": waiting,
        })

    async def replay(self, request: Request) -> Response:
        """Manual ingest: the event goes onto the issue-events topic, so the worker handles it like a webhook's."""
        if not self._workflow_enabled():
            return JSONResponse({"accepted": False, "reason": "workflow_disabled"}, 202)
        try:
            body = await read_body(request, self.settings.whitepaper_webhook_max_body_bytes)
            document = parse_json_object(body, nul_allowed=True)  # the run store replaces NUL
        except HttpInputError as exc:
            return refused(exc)
        wrapped = document.get("headers"), document.get("body")
        wrapper_headers: dict[str, Any] = wrapped[0] if isinstance(wrapped[0], dict) else {}
        payload = wrapped[1] if isinstance(wrapped[1], dict) and wrapper_headers else document
        lowered = {str(k).lower(): v for k, v in wrapper_headers.items()}
        event_name = (request.headers.get("x-github-event") or lowered.get("x-github-event")
                      or lowered.get("github_event") or infer_event_name(payload) or "")
        if event_name not in HANDLED_EVENTS:
            return error(400, "unsupported_event", f"event {str(event_name)[:64]!r} is not issues or issue_comment")
        delivery = (request.headers.get("x-github-delivery") or lowered.get("x-github-delivery")
                    or lowered.get("github_delivery") or ids.manual_replay_delivery_id(body))
        event = issue_event(str(event_name), str(delivery)[:200], payload, datetime.now(UTC))
        if isinstance(event, NotAnIssueEvent):
            return error(400, "not_an_issue_event", event.detail)
        decision = interpret(event, self.settings.intake_rules)
        if isinstance(decision, Rejected):
            return JSONResponse({"accepted": False, "reason": decision.reason, "detail": decision.detail})
        headers = issue_event_headers(event)
        try:
            await self.publish(event, headers)
        except Exception as exc:
            log.error("manual replay not published", delivery_id=event.delivery_id, error=repr(exc))
            return error(503, "publish_failed", "the event bus did not take it; try again")
        return JSONResponse({"accepted": True, "reason": "queued", "run_id": decision.run_id,
                             "delivery_id": event.delivery_id, "message_id": headers.message_id}, 202)

    async def dispatch(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if not RUN_ID.match(run_id):
            return error(404, "whitepaper_run_not_found")
        if not self._workflow_enabled():
            return error(409, "workflow_disabled")
        try:
            result = await self.workflow.dispatch_run(self.engine, run_id)
        except RunNotFound:
            return error(404, "whitepaper_run_not_found")
        except DispatchRefused as exc:
            return error(409, exc.code)
        except IllegalTransition as exc:
            return error(409, "illegal_transition", str(exc))
        await self.outbox.flush_quietly()
        run = result.run
        body = {"run_id": run.run_id, "status": run.status.value, "idempotent": result.idempotent,
                "agentrun_name": run.agentrun_name, "reason": run.status_reason}
        if run.status.value == "failed":
            return JSONResponse({**body, "error": "agentrun_dispatch_failed"}, 502)
        return JSONResponse(body, 200 if result.idempotent else 202)

    async def finalize(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if not RUN_ID.match(run_id):
            return error(404, "whitepaper_run_not_found")
        try:
            raw = parse_json_object(await read_body(request, 8 * self.settings.whitepaper_webhook_max_body_bytes),
                                    nul_allowed=True)  # the run store replaces NUL
            payload = FinalizePayload.model_validate(raw)
        except HttpInputError as exc:
            return refused(exc)
        except ValidationError as exc:
            fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()[:10])
            return error(422, "invalid_finalize_payload", fields)
        try:
            result = await self.workflow.finalize_run(self.engine, run_id, payload, raw)
        except RunNotFound:
            return error(404, "whitepaper_run_not_found")
        except IllegalTransition as exc:
            return error(409, "illegal_transition", str(exc))
        await self.outbox.flush_quietly()
        return JSONResponse({"run_id": run_id, "status": result.run.status.value, "changed": result.changed})

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if not RUN_ID.match(run_id):
            return error(404, "whitepaper_run_not_found")
        async with self.engine.connect() as conn:
            detail = await run_store.detail(conn, run_id)
        if detail is None:
            return error(404, "whitepaper_run_not_found")
        return JSONResponse(detail)
