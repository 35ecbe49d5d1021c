"""A scripted decision engine speaking the seed-002 contract, for the client's unit tests.

It honours the same ``x-torghut-fault`` values as the reference engine (``stall``, ``slow:<s>``,
``error``, ``malformed-final``, ``drop-after:<n>``) and adds knobs the reference engine has no reason
to offer: no resumable stream (the client must poll), failing POSTs (5xx, 4xx), a final for another
request id, a stream kept open after its terminal event. Runs live in memory, keyed by request id:
the same request id returns the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from torghut_contracts.decision_engine import (
    RUNS_PATH,
    STREAM_PATH,
    AnalysisComplete,
    ContextReady,
    DecisionError,
    DecisionFinal,
    DecisionRequest,
    RunAccepted,
    RunProgress,
    RunState,
    RunStatus,
    SseEvent,
)
from torghut_contracts.enums import Action, Adapter
from torghut_contracts.models import DecisionIntent, SizeRecommendation

FAULT_HEADER = "x-torghut-fault"
ENGINE_VERSION = "fake-engine-1"
HEARTBEAT = b": heartbeat\n\n"


@dataclass
class FakeRun:
    run_id: str
    request: DecisionRequest
    created_at: datetime
    events: list[tuple[int, SseEvent, str]] = field(default_factory=list)
    status: RunState = RunState.ACCEPTED
    final: DecisionFinal | None = None
    error: DecisionError | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in (RunState.FINAL, RunState.ERROR)

    def emit(self, event: SseEvent, data: str) -> None:
        self.events.append((len(self.events) + 1, event, data))
        self.changed.set()
        self.changed = asyncio.Event()

    def run_status(self) -> RunStatus:
        return RunStatus(run_id=self.run_id, request_id=self.request.request_id, status=self.status,
                         created_at=self.created_at, updated_at=datetime.now(UTC), last_event_id=len(self.events),
                         final=self.final, error=self.error)


def default_final(run: FakeRun) -> DecisionFinal:
    """Buy 10 in the trigger's direction (sell for a sell trigger)."""
    direction = run.request.trigger.direction
    action = Action.SELL if direction is not None and direction.value == "sell" else Action.BUY
    return DecisionFinal(
        run_id=run.run_id, request_id=run.request.request_id,
        intent=DecisionIntent(action=action, qty=Decimal(10), adapter_hint=Adapter.ALPACA,
                              adapter_hint_reason="primary adapter"),
        confidence=Decimal("0.7"), uncertainty_notes=["fake engine"],
        size_recommendation=SizeRecommendation(max_qty=Decimal(10), max_notional=Decimal(2000)),
        artifact_refs={"technicals-regime": "fake://technicals/1"}, risk_flags=["news_sentiment_missing"],
        engine_version=ENGINE_VERSION, mode="deterministic", skill_bundle_version="fake-bundle-1",
    )


class FakeEngine:
    def __init__(self, *, heartbeat_s: float = 0.05, run_timeout_s: float = 10.0, resume_supported: bool = True,
                 final: Callable[[FakeRun], DecisionFinal] = default_final) -> None:
        self.heartbeat_s = heartbeat_s
        self.run_timeout_s = run_timeout_s
        self.resume_supported = resume_supported
        self.final = final
        self.final_data: Callable[[FakeRun], str] | None = None
        """When set, the raw ``decision.final`` data (to send something the contract forbids)."""
        self.resume_status: int | None = None
        """When set, every resume request is answered with this HTTP status (e.g. 503: a sick engine)."""
        self.post_failures: list[int] = []
        """HTTP statuses answered to the next POSTs, in order, before any run is created."""
        self.runs: dict[str, FakeRun] = {}
        self.posts = 0
        self.resume_last_event_ids: list[str | None] = []
        self.status_polls = 0
        self.fault_headers: list[str | None] = []
        self.post_peers: list[tuple[str, int] | None] = []
        """The client address (host, port) of every POST: one port for several POSTs is one reused connection."""
        self.shut_down_after: int | None = None
        """When set, the first stream ends after this many events with the reference engine's SIGTERM
        answer: an unnumbered ``decision.error`` ``shutting_down``, ``retryable``."""
        self.linger_after_terminal = False
        """When set, a stream is not ended after its terminal event but kept open with heartbeats."""
        self.hold_until: int | None = None
        """When set, every run holds before its analysis until this many runs are held at once (or
        ``hold_timeout_s`` passed): a barrier that proves so many runs were in flight together."""
        self.hold_timeout_s = 30.0
        self.held = 0
        self.released_by_count = False
        self._all_held = asyncio.Event()
        self.app = Starlette(routes=[
            Route(STREAM_PATH, self._post_stream, methods=["POST"]),
            Route(RUNS_PATH + "/stream", self._resume_stream, methods=["GET"]),
            Route(RUNS_PATH, self._run_status, methods=["GET"]),
        ])

    @property
    def runs_created(self) -> int:
        return len(self.runs)

    async def aclose(self) -> None:
        for run in self.runs.values():
            if run.task is not None:
                run.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run.task

    # -- routes ----------------------------------------------------------------------------------
    async def _post_stream(self, request: Request) -> Response:
        self.posts += 1
        if self.post_failures:
            return JSONResponse({"error": "injected"}, status_code=self.post_failures.pop(0))
        try:
            body = DecisionRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": "invalid request", "detail": exc.errors(include_url=False)},
                                status_code=422)
        fault = request.headers.get(FAULT_HEADER)
        self.fault_headers.append(fault)
        self.post_peers.append((request.client.host, request.client.port) if request.client else None)
        run = self.runs.get(body.request_id)
        existing = run is not None
        if run is None:
            run = FakeRun(run_id=f"run-{len(self.runs) + 1}", request=body, created_at=datetime.now(UTC))
            self.runs[body.request_id] = run
            run.task = asyncio.create_task(self._execute(run, fault))
        drop_after = None
        if not existing and fault and fault.startswith("drop-after:"):
            drop_after = int(fault.split(":", 1)[1])
        after = int(request.headers.get("last-event-id") or 0)
        return StreamingResponse(self._stream(run, after=after, drop_after=drop_after),
                                 media_type="text/event-stream")

    async def _resume_stream(self, request: Request) -> Response:
        self.resume_last_event_ids.append(request.headers.get("last-event-id"))
        if self.resume_status is not None:
            return JSONResponse({"error": "injected"}, status_code=self.resume_status)
        run = self._run_by_id(request.path_params["run_id"])
        if not self.resume_supported or run is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        after = int(request.headers.get("last-event-id") or 0)
        return StreamingResponse(self._stream(run, after=after, drop_after=None), media_type="text/event-stream")

    async def _run_status(self, request: Request) -> Response:
        self.status_polls += 1
        run = self._run_by_id(request.path_params["run_id"])
        if run is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(run.run_status().model_dump_json(), media_type="application/json")

    def _run_by_id(self, run_id: str) -> FakeRun | None:
        return next((run for run in self.runs.values() if run.run_id == run_id), None)

    # -- the run ---------------------------------------------------------------------------------
    async def _execute(self, run: FakeRun, fault: str | None) -> None:
        try:
            await asyncio.wait_for(self._script(run, fault), timeout=self.run_timeout_s)
        except TimeoutError:
            run.error = DecisionError(run_id=run.run_id, code="timeout", message="run exceeded its hard timeout")
            run.status = RunState.ERROR
            run.emit(SseEvent.ERROR, run.error.model_dump_json())

    async def _script(self, run: FakeRun, fault: str | None) -> None:
        run.emit(SseEvent.ACCEPTED, RunAccepted(run_id=run.run_id, request_id=run.request.request_id,
                                                status=RunState.ACCEPTED,
                                                created_at=run.created_at).model_dump_json())
        run.status = RunState.RUNNING
        await asyncio.sleep(0)
        run.emit(SseEvent.PROGRESS, RunProgress(run_id=run.run_id, stage="skills").model_dump_json())
        run.emit(SseEvent.CONTEXT_READY, ContextReady(run_id=run.run_id, skill_bundle_version="fake-bundle-1",
                                                      skills=[]).model_dump_json())
        if fault == "stall":
            await asyncio.Event().wait()
        if fault and fault.startswith("slow:"):
            await asyncio.sleep(float(fault.split(":", 1)[1]))
        if self.hold_until is not None:
            await self._hold(self.hold_until)
        await asyncio.sleep(0)
        run.emit(SseEvent.ANALYSIS_COMPLETE, AnalysisComplete(run_id=run.run_id, summary="ok").model_dump_json())
        if fault == "error":
            run.error = DecisionError(run_id=run.run_id, code="injected", message="fault injection")
            run.status = RunState.ERROR
            run.emit(SseEvent.ERROR, run.error.model_dump_json())
            return
        if fault == "malformed-final":
            run.status = RunState.FINAL
            run.emit(SseEvent.FINAL, json.dumps({"run_id": run.run_id, "intent": {"action": "buy"}}))
            return
        final = self.final(run)
        run.final = final
        run.status = RunState.FINAL
        run.emit(SseEvent.FINAL, self.final_data(run) if self.final_data else final.model_dump_json())

    async def _hold(self, count: int) -> None:
        self.held += 1
        if self.held >= count:
            self.released_by_count = True
            self._all_held.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_held.wait(), timeout=self.hold_timeout_s)

    async def _stream(self, run: FakeRun, *, after: int, drop_after: int | None) -> AsyncIterator[bytes]:
        last, sent = after, 0
        while True:
            changed = run.changed
            for event_id, event, data in run.events[last:]:
                yield f"id: {event_id}\nevent: {event.value}\ndata: {data}\n\n".encode()
                last, sent = event_id, sent + 1
                if event in (SseEvent.FINAL, SseEvent.ERROR):
                    while self.linger_after_terminal:
                        await asyncio.sleep(self.heartbeat_s)
                        yield HEARTBEAT
                    return
                if drop_after is not None and sent >= drop_after:
                    return
                if self.shut_down_after is not None and sent >= self.shut_down_after:
                    self.shut_down_after = None
                    error = DecisionError(run_id=run.run_id, code="shutting_down", retryable=True)
                    yield f"event: {SseEvent.ERROR.value}\ndata: {error.model_dump_json()}\n\n".encode()
                    return
            try:
                await asyncio.wait_for(changed.wait(), timeout=self.heartbeat_s)
            except TimeoutError:
                yield HEARTBEAT
