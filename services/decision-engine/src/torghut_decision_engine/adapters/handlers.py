"""The decision-engine's handlers: its HTTP endpoints (seed 002), since it reads no topic.

Stream a run, poll it, resume it, fetch a skill artifact; and submit a batch of runs in one request
(this suite's addition: one round trip and one insert for many runs, each then a run like any other).

Bad input answers 4xx with a message naming the field: 400 for a body that is not a JSON object or
a malformed header, 413 for an oversized body, 422 for a body that is JSON but not a valid
:class:`DecisionRequest` (or :class:`DecisionBatch`: the field names its request, ``requests.3.symbol``),
404 for an unknown run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from torghut_contracts.decision_engine import (
    BATCH_PATH,
    RUNS_PATH,
    STREAM_PATH,
    ContextReady,
    DecisionBatch,
    DecisionBatchResult,
    DecisionError,
    DecisionFinal,
    DecisionRequest,
    RunStatus,
    SseEvent,
)
from torghut_contracts.models.base import Contract
from torghut_contracts.types import BIGINT_MAX
from torghut_runtime.http_input import HttpInputError, parse_json_object, read_body

from ..domain.faults import FAULT_HEADER, FaultHeaderError, parse_fault
from ..domain.skills import SKILL_NAMES
from ..runs.manager import RunManager, Submission
from .sse import RunSignals, frame, run_stream
from .store import RunRecord, StoredEvent

C = TypeVar("C", bound=Contract)
MAX_BODY_BYTES = 256 * 1024
MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024
LAST_EVENT_ID = "last-event-id"


class BadRequest(Exception):
    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []

    def response(self) -> JSONResponse:
        body: dict[str, object] = {"error": "invalid_request" if self.status < 500 else "error",
                                   "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return JSONResponse(body, status_code=self.status)


def _field_name(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "<body>"


async def _parse_body(request: Request, model: type[C], max_bytes: int, what: str) -> C:
    try:  # counted while it streams in, parsed with a nesting limit: never read whole, never a 5xx
        body = parse_json_object(await read_body(request, max_bytes))
    except HttpInputError as exc:
        raise BadRequest(exc.status, f"request body: {exc.detail}") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = [{"field": _field_name(error["loc"]), "message": error["msg"]} for error in exc.errors()]
        raise BadRequest(422, f"invalid {what}: " + "; ".join(f"{f['field']}: {f['message']}"
                                                               for f in fields), fields) from None


def _check_domains(decision_request: DecisionRequest, field: str, what: str) -> None:
    unknown = sorted(set(decision_request.required_domains or ()) - set(SKILL_NAMES))
    if unknown:
        message = f"unknown skill domain(s) {unknown}; known: {list(SKILL_NAMES)}"
        raise BadRequest(422, f"invalid {what}: {field}: {message}", [{"field": field, "message": message}])


async def parse_request(request: Request) -> DecisionRequest:
    decision_request = await _parse_body(request, DecisionRequest, MAX_BODY_BYTES, "decision request")
    _check_domains(decision_request, "required_domains", "decision request")
    return decision_request


async def parse_batch(request: Request) -> DecisionBatch:
    batch = await _parse_body(request, DecisionBatch, MAX_BATCH_BODY_BYTES, "decision batch")
    for index, decision_request in enumerate(batch.requests):
        _check_domains(decision_request, f"requests.{index}.required_domains", "decision batch")
    return batch


def last_event_id(request: Request) -> int:
    raw = request.headers.get(LAST_EVENT_ID) or request.query_params.get("last_event_id")
    if raw is None or raw.strip() == "":
        return 0
    if not raw.strip().isdigit() or len(raw.strip()) > 19 or int(raw.strip()) > BIGINT_MAX:
        raise BadRequest(400, f"Last-Event-ID must be a non-negative integer event id, got {raw[:40]!r}")
    return int(raw.strip())


def run_status(run: RunRecord, submission: Submission | None = None) -> RunStatus:
    """What a poll answers for the run. A stored final or error that does not validate (only the
    ``malformed-final`` fault writes one) is left out, so a terminal run without it reads as malformed."""
    final = submission.final if submission is not None else None
    if final is None and run.final:
        final = _validated(DecisionFinal, run.final)
    error = _validated(DecisionError, run.error) if run.error else None
    return RunStatus(run_id=run.run_id, request_id=run.request_id, status=run.status, created_at=run.created_at,
                     updated_at=run.updated_at, last_event_id=run.last_event_id, final=final, error=error)


def _validated(model: type[C], data: str) -> C | None:
    try:
        return model.model_validate_json(data)
    except ValidationError:
        return None


@dataclass(frozen=True)
class StreamSettings:
    heartbeat_s: float
    poll_s: float
    fault_injection: bool


class DecisionEngineApi:
    def __init__(self, manager: RunManager, signals: RunSignals, settings: StreamSettings) -> None:
        self.manager = manager
        self.store = manager.store
        self.signals = signals
        self.settings = settings

    def routes(self) -> list[BaseRoute]:
        return [
            Route(STREAM_PATH, self.stream, methods=["POST"]),
            Route(BATCH_PATH, self.batch, methods=["POST"]),
            Route(RUNS_PATH, self.status, methods=["GET"]),
            Route(RUNS_PATH + "/stream", self.resume, methods=["GET"]),
            Route(RUNS_PATH + "/artifacts/{skill}", self.artifact, methods=["GET"]),
        ]

    async def stream(self, request: Request) -> Response:
        try:
            decision_request = await parse_request(request)
            after = last_event_id(request)
            fault = parse_fault(request.headers.get(FAULT_HEADER)) if self.settings.fault_injection else None
        except FaultHeaderError as exc:
            return BadRequest(400, str(exc)).response()
        except BadRequest as exc:
            return exc.response()
        submission = await self.manager.submit(decision_request, fault)
        run, created = submission.run, submission.created
        try:
            self._check_resume_point(run, after)
        except BadRequest as exc:
            return exc.response()
        drop_after = fault.events if created and fault is not None and fault.kind == "drop-after" else None
        if submission.events is not None:
            return self._finished_sse(run, submission.events, after=after, drop_after=drop_after)
        return self._sse(run, after=after, existing=not created, drop_after=drop_after)

    async def batch(self, request: Request) -> Response:
        """Submit every request of the batch as its own run (one insert for all) and answer their status:
        the deterministic ones finished, with their final; the others live, to be followed by run id."""
        try:
            batch = await parse_batch(request)
            fault = parse_fault(request.headers.get(FAULT_HEADER)) if self.settings.fault_injection else None
        except FaultHeaderError as exc:
            return BadRequest(400, str(exc)).response()
        except BadRequest as exc:
            return exc.response()
        if fault is not None and fault.kind == "drop-after":
            return BadRequest(400, f"{FAULT_HEADER} drop-after cuts a stream, and a batch is answered without "
                                   "one; inject it on a run's stream").response()
        submissions = await self.manager.submit_many(batch.requests, fault)
        result = DecisionBatchResult(runs=[run_status(submission.run, submission) for submission in submissions])
        return Response(result.model_dump_json(), media_type="application/json")

    async def resume(self, request: Request) -> Response:
        run = await self.store.get(request.path_params["run_id"])
        if run is None:
            return BadRequest(404, f"unknown run {request.path_params['run_id']!r}").response()
        try:
            after = last_event_id(request)
            self._check_resume_point(run, after)
        except BadRequest as exc:
            return exc.response()
        return self._sse(run, after=after, existing=True, drop_after=None)

    async def status(self, request: Request) -> Response:
        run = await self.store.get(request.path_params["run_id"])
        if run is None:
            return BadRequest(404, f"unknown run {request.path_params['run_id']!r}").response()
        if run.fault == "malformed-final":  # the injected fault: deliberately not a valid RunStatus
            return JSONResponse({"run_id": run.run_id, "request_id": run.request_id, "status": run.status.value,
                                 "created_at": run.created_at.isoformat(), "updated_at": run.updated_at.isoformat(),
                                 "last_event_id": run.last_event_id,
                                 "final": json.loads(run.final) if run.final else None,
                                 "error": json.loads(run.error) if run.error else None})
        return Response(run_status(run).model_dump_json(), media_type="application/json")

    async def artifact(self, request: Request) -> Response:
        run_id, skill = request.path_params["run_id"], request.path_params["skill"]
        event = await self.store.event(run_id, SseEvent.CONTEXT_READY)
        if event is None:
            return BadRequest(404, f"run {run_id!r} is unknown or has no skill context yet").response()
        for output in ContextReady.model_validate_json(event.data).skills:
            if output.skill == skill:
                return Response(output.model_dump_json(), media_type="application/json")
        return BadRequest(404, f"run {run_id!r} has no skill {skill!r}").response()

    @staticmethod
    def _check_resume_point(run: RunRecord, after: int) -> None:
        if after > run.last_event_id:  # ids only grow: nobody can have seen a later one
            raise BadRequest(400, f"Last-Event-ID {after} is beyond the run's last event {run.last_event_id}")

    @staticmethod
    def _sse_headers(run: RunRecord, *, existing: bool) -> dict[str, str]:
        return {"cache-control": "no-cache", "x-accel-buffering": "no", "x-torghut-run-id": run.run_id,
                "x-torghut-run-existing": "true" if existing else "false"}

    def _finished_sse(self, run: RunRecord, events: Sequence[StoredEvent], *, after: int,
                      drop_after: int | None) -> Response:
        """The stream of a run created already finished: its events were just committed, so they are
        sent from memory, all at once, and the response ends with the terminal one (or after
        ``drop_after`` events), exactly what reading them back would have produced."""
        chosen = [event for event in events if event.event_id > after][:drop_after]
        body = b"".join(frame(event, existing=False) for event in chosen)
        return Response(body, media_type="text/event-stream", headers=self._sse_headers(run, existing=False))

    def _sse(self, run: RunRecord, *, after: int, existing: bool, drop_after: int | None) -> StreamingResponse:
        metrics = self.manager.metrics

        async def body() -> AsyncIterator[bytes]:
            metrics.streams.inc()
            try:
                async for chunk in run_stream(self.store, self.signals, run.run_id, after=after,
                                              heartbeat_s=self.settings.heartbeat_s, poll_s=self.settings.poll_s,
                                              existing=existing, drop_after=drop_after):
                    yield chunk
            finally:
                metrics.streams.dec()

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers=self._sse_headers(run, existing=existing))
