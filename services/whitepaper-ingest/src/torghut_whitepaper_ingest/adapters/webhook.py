"""``POST /webhooks/github``: verify, filter, publish. The worker, not the receiver, interprets events.

Order of checks: body size (413) -> signature (401) -> workflow gate (202 ``workflow_disabled``) ->
event type (202 ``ignored``) -> JSON (400: malformed, nested deeper than 64, a lone surrogate in a
string; a NUL is kept, the run store replaces it) -> issue fields and delivery id (400, validated by
the contract model, so an issue number the store cannot hold is refused here, not dead-lettered
after a 202) -> publish (202; 503 if the broker does not take it, so GitHub shows a failed delivery
that can be redelivered).

The Kafka message id is derived from ``X-GitHub-Delivery``: a delivery sent twice is one message,
and the worker's processed-message store runs it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GithubIssueEvent
from torghut_runtime.http_input import HttpInputError, parse_json_object, read_body

from ..domain import ids
from ..domain.webhook import HANDLED_EVENTS, NotAnIssueEvent, issue_event, signature_valid
from ..metrics import WhitepaperMetrics
from .http_common import error, refused

log = structlog.get_logger("torghut.whitepaper.webhook")
PublishIssueEvent = Callable[[GithubIssueEvent, MessageHeaders], Awaitable[object]]


def issue_event_headers(event: GithubIssueEvent) -> MessageHeaders:
    message_id = ids.delivery_message_id(event.delivery_id)
    return MessageHeaders.new(topics.GITHUB_ISSUE_EVENTS.name, message_id=message_id, now=event.received_at)


class GithubWebhook:
    def __init__(self, *, secret: str | None, enabled: bool | Callable[[], bool], max_body_bytes: int,
                 publish: PublishIssueEvent, metrics: WhitepaperMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.secret = secret
        self._enabled = enabled
        self.max_body_bytes = max_body_bytes
        self.publish = publish
        self.metrics = metrics
        self.clock = clock

    @property
    def enabled(self) -> bool:
        """Fixed, or read per request from a source (the feature flag)."""
        return self._enabled if isinstance(self._enabled, bool) else self._enabled()

    def _answer(self, outcome: str, response: Response) -> Response:
        self.metrics.webhook.labels(outcome=outcome).inc()
        return response

    async def handle(self, request: Request) -> Response:
        try:
            body = await read_body(request, self.max_body_bytes)
        except HttpInputError as exc:
            return self._answer("too_large" if exc.status == 413 else "bad_request", refused(exc))
        if self.secret is not None and not signature_valid(self.secret, body,
                                                           request.headers.get("x-hub-signature-256")):
            return self._answer("unauthorized", error(401, "invalid_signature",
                                                      "X-Hub-Signature-256 is missing or does not match"))
        if not self.enabled:
            return self._answer("disabled", JSONResponse({"accepted": False, "reason": "workflow_disabled"}, 202))
        if self.secret is None:  # unreachable with valid settings: enabled requires a secret
            return self._answer("unauthorized", error(401, "invalid_signature", "no webhook secret configured"))
        event_name = request.headers.get("x-github-event", "")
        if event_name not in HANDLED_EVENTS:
            return self._answer("ignored", JSONResponse(
                {"accepted": False, "reason": "ignored_event", "event": event_name[:64]}, 202))
        try:
            payload = parse_json_object(body, nul_allowed=True)  # the run store replaces NUL
        except HttpInputError as exc:
            return self._answer("bad_request", refused(exc))
        delivery_id = request.headers.get("x-github-delivery", "").strip()
        if not delivery_id or len(delivery_id) > 200:
            return self._answer("bad_request", error(400, "delivery_id_missing", "X-GitHub-Delivery is required"))
        event = issue_event(event_name, delivery_id, payload, self.clock())
        if isinstance(event, NotAnIssueEvent):
            return self._answer("bad_request", error(400, "not_an_issue_event", event.detail))
        headers = issue_event_headers(event)
        try:
            await self.publish(event, headers)
        except Exception as exc:
            log.error("could not publish a GitHub delivery", delivery_id=delivery_id, error=repr(exc))
            return self._answer("publish_failed", error(503, "publish_failed", "the event bus did not take it; "
                                                                               "redeliver later"))
        log.info("github delivery accepted", delivery_id=delivery_id, github_event=event_name, action=event.action,
                 repository=event.repository, issue_number=event.issue_number)
        return self._answer("accepted", JSONResponse(
            {"accepted": True, "delivery_id": delivery_id, "message_id": headers.message_id,
             "key": topics.GITHUB_ISSUE_EVENTS.key(event)}, 202))
