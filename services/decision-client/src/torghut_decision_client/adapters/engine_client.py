"""The ``decision-engine`` transport: one run of the seed-002 endpoint, streamed with httpx-sse.

What it guards against, since a decision run may take minutes over a connection that can drop:

* heartbeats (SSE comments, and the blank events httpx-sse yields after them) are skipped and do
  not count as progress;
* a dropped connection is resumed from the last event id (``Last-Event-ID``) on the run's stream;
  an engine without a resumable stream is polled on ``GET .../runs/{run_id}`` instead;
* a data-staleness watchdog ends a run that only sends heartbeats (``engine_stalled``), and an
  overall deadline bounds everything, reconnects and backoff included (``engine_timeout``);
* connection failures and 5xx are retried with exponential backoff (``engine_unavailable`` when
  they run out); a 4xx is not retried (``engine_rejected_request``).

Re-posting the same request is safe by contract: the engine returns the existing run for a
request id it has seen, so a retry never starts a second run.

With ``batch_max`` above 1, runs asked at the same moment are first submitted together in one
batch request (:mod:`.engine_batch`); a run the batch answers finished needs no stream, one still
going is followed by its id from the batch's last event id, and one the batch could not ask is
streamed as above.

Nothing here raises for an engine problem: every path ends in an ``EngineOutcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping
from typing import Any

import httpx
import structlog
from httpx_sse import aconnect_sse
from pydantic import ValidationError
from torghut_contracts.decision_engine import (
    BATCH_PATH,
    RUNS_PATH,
    STREAM_PATH,
    DecisionRequest,
    RunStatus,
)

from ..domain import reasons
from ..domain.outcome import EngineOutcome, failure
from .engine_batch import RunBatcher, post_batch
from .engine_config import EngineClientConfig
from .engine_events import _PROGRESS_EVENTS, SHUTTING_DOWN, TIMEOUT_ERROR_CODES, _on_event, _terminal
from .engine_run import TRANSPORT, _Rejected, _ResumeUnsupported, _Retryable, _Run

__all__ = [
    "FINAL_DRAIN_S",
    "RESUME_PATH",
    "RUN_ID_HEADER",
    "SHUTTING_DOWN",
    "TIMEOUT_ERROR_CODES",
    "TRANSPORT",
    "DecisionEngineClient",
    "EngineClientConfig",
]

log = structlog.get_logger("torghut.decision_client.engine")

RESUME_PATH = RUNS_PATH + "/stream"
RUN_ID_HEADER = "x-torghut-run-id"
"""The reference engine names the run in a response header too, so a drop before decision.accepted can resume."""
FINAL_DRAIN_S = 0.05
"""How long the end of a response may take to arrive after its terminal event (see ``_release``)."""


class DecisionEngineClient:
    """Streams one decision run per :meth:`decide` call; safe to share across calls."""

    name = TRANSPORT

    def __init__(self, config: EngineClientConfig, *, http: httpx.AsyncClient | None = None,
                 extra_headers: Mapping[str, str] | None = None) -> None:
        """``extra_headers`` go on every engine request; tests use it for ``x-torghut-fault``."""
        self.config = config
        self.extra_headers = dict(extra_headers or {})
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(
            connect=config.connect_timeout_s, read=config.read_timeout_s, write=config.connect_timeout_s,
            pool=config.connect_timeout_s))
        self.resumes = 0
        """Streams resumed after a drop (for metrics and tests)."""
        self._drain_after_terminal = True
        self.batcher = RunBatcher(functools.partial(post_batch, self.http, config.base_url + BATCH_PATH,
                                                    self.extra_headers),
                                  max_runs=config.batch_max) if config.batch_max > 1 else None

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        run = _Run(request=request, started=time.monotonic())
        try:
            outcome = await self._decide(run)
            await self._release(run)
            return outcome
        finally:
            if run.open_stream is not None:
                await run.open_stream.aclose()

    async def _decide(self, run: _Run) -> EngineOutcome:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.config.deadline_s):
                if self.batcher is not None:
                    outcome = await self._from_batch(run)
                    if outcome is not None:
                        return outcome
                watchdog = asyncio.timeout(self.config.stall_timeout_s)
                try:
                    async with watchdog:
                        return await self._follow(run, lambda: watchdog.reschedule(
                            loop.time() + self.config.stall_timeout_s))
                except TimeoutError:
                    if not watchdog.expired():
                        raise
                return await self._after_stall(run)
        except TimeoutError:
            return failure(reasons.ENGINE_TIMEOUT,
                           f"no final decision within the {self.config.deadline_s:g}s deadline", run.provenance())

    async def _from_batch(self, run: _Run) -> EngineOutcome | None:
        """The run's outcome when its batch answered it finished; else None, and the run is followed by
        its id from where the batch left it (or, when the batch could not ask it, streamed from the start)."""
        assert self.batcher is not None
        status = await self.batcher.submit(run.request)
        if status is None:
            return None
        run.run_id, run.last_event_id = status.run_id, str(status.last_event_id)
        run.connected_once = True
        try:
            return _terminal(run, status)
        except _Retryable:  # an error the engine calls retryable: follow the run as a stream would
            return None

    async def _release(self, run: _Run) -> None:
        """Read the response the terminal event came on to its end, so its connection goes back to the pool.

        A response closed before its end closes its connection too, and the next run would pay for a
        new one (connect, and the engine's accept). The outcome is already decided: this only waits
        for the end of the body, which an engine sends right after the terminal event, and at most
        ``FINAL_DRAIN_S``. An engine that keeps the stream open after it is not waited for again:
        from then on such responses are simply closed. It runs outside the deadline and the
        watchdog, so neither can turn a decided outcome into a timeout.
        """
        if run.open_stream is None or run.rest is None:
            return
        if self._drain_after_terminal:
            try:
                async with asyncio.timeout(FINAL_DRAIN_S):
                    async for _ in run.rest:
                        pass
            except TimeoutError:
                self._drain_after_terminal = False
                log.info("the engine keeps streams open after their terminal event; closing them instead",
                         run_id=run.run_id)
            except Exception as exc:  # the outcome stands whatever the end holds; the connection is just closed
                log.info("the end of a decision stream could not be read", run_id=run.run_id, error=repr(exc))
        stream, run.open_stream, run.rest = run.open_stream, None, None
        await stream.aclose()

    # -- following a run across reconnects ----------------------------------------------------------
    async def _follow(self, run: _Run, progressed: Any) -> EngineOutcome:
        failures = 0
        while True:
            seen_before = run.last_event_id
            try:
                if run.run_id is None:
                    outcome = await self._stream(run, "POST", STREAM_PATH, progressed)
                else:
                    outcome = await self._stream(run, "GET", RESUME_PATH.format(run_id=run.run_id), progressed)
                if outcome is not None:
                    return outcome
                run.last_problem = "the stream ended before a final event"
            except _Rejected as exc:
                return failure(reasons.ENGINE_REJECTED_REQUEST, str(exc), run.provenance())
            except _ResumeUnsupported:
                return await self._poll(run, progressed)
            except (httpx.TransportError, _Retryable) as exc:  # SSEError is a TransportError
                run.last_problem = f"{type(exc).__name__}: {exc}"
                run.unreachable = not run.connected_once or isinstance(exc, httpx.ConnectError | _Retryable)
            if run.last_event_id != seen_before:
                failures = 0  # the run moved before the drop: only consecutive failures count
            failures += 1
            if failures > self.config.max_reconnects:
                if not run.connected_once:
                    return failure(reasons.ENGINE_UNAVAILABLE, run.last_problem, run.provenance())
                if run.run_id is not None:
                    return await self._poll(run, progressed)
                return failure(reasons.ENGINE_UNAVAILABLE, run.last_problem, run.provenance())
            delay = self.config.backoff(failures)
            log.warning("decision stream interrupted; reconnecting", request_id=run.request.request_id,
                        run_id=run.run_id, last_event_id=run.last_event_id, attempt=failures,
                        delay_s=round(delay, 3), problem=run.last_problem)
            await asyncio.sleep(delay)

    async def _stream(self, run: _Run, method: str, path: str, progressed: Any) -> EngineOutcome | None:
        headers = dict(self.extra_headers)
        kwargs: dict[str, Any] = {}
        if method == "POST":
            kwargs["content"] = run.request.model_dump_json()
            headers["content-type"] = "application/json"
        if run.last_event_id:
            headers["Last-Event-ID"] = run.last_event_id
        resuming = method == "GET"
        async with contextlib.AsyncExitStack() as stack:
            source = await stack.enter_async_context(
                aconnect_sse(self.http, method, self.config.base_url + path, headers=headers, **kwargs))
            await self._check_status(source.response, resuming=resuming)
            run.connected_once = True
            run.unreachable = False
            run.run_id = run.run_id or source.response.headers.get(RUN_ID_HEADER) or None
            if resuming:
                run.resumes += 1
                self.resumes += 1
            events = source.aiter_sse()
            async for sse in events:
                if not sse.data:
                    continue  # a heartbeat: the connection is alive, the run has not moved
                if sse.id and run.is_replayed(sse.id):
                    continue
                if sse.id:
                    run.last_event_id = sse.id
                outcome = _on_event(run, sse)
                if outcome is not None:
                    run.open_stream, run.rest = stack.pop_all(), events  # decide() reads its end, then closes it
                    return outcome
                if sse.event in _PROGRESS_EVENTS:
                    progressed()
        return None

    async def _check_status(self, response: httpx.Response, *, resuming: bool) -> None:
        status = response.status_code
        if status < 300:
            return
        body = (await response.aread()).decode("utf-8", "replace")[:500]
        if resuming and status in (404, 405):
            raise _ResumeUnsupported(f"{status}: {body}")
        if status in (408, 429) or status >= 500:
            raise _Retryable(f"engine answered {status}: {body}")
        raise _Rejected(f"engine refused the request ({status}): {body}")

    # -- the poll fallback ---------------------------------------------------------------------------
    async def _poll(self, run: _Run, progressed: Any) -> EngineOutcome:
        """Follow the run by ``GET .../runs/{id}`` until it ends (watchdog and deadline still apply)."""
        assert run.run_id is not None
        last_seen = -1
        failures = 0
        while True:
            try:
                status = await self._status(run)
                failures, run.unreachable = 0, False
            except (httpx.TransportError, _Retryable) as exc:
                failures += 1
                run.last_problem = f"{type(exc).__name__}: {exc}"
                run.unreachable = True
                if failures > self.config.max_reconnects:
                    return failure(reasons.ENGINE_UNAVAILABLE, run.last_problem, run.provenance())
                await asyncio.sleep(self.config.backoff(failures))
                continue
            except _Rejected as exc:
                return failure(reasons.ENGINE_ERROR, f"the run can no longer be read: {exc}", run.provenance())
            if status is None:
                return failure(reasons.ENGINE_MALFORMED_FINAL, "the run status does not validate", run.provenance())
            outcome = _terminal(run, status)
            if outcome is not None:
                return outcome
            if status.last_event_id > last_seen:
                if last_seen >= 0:
                    progressed()
                last_seen = status.last_event_id
            await asyncio.sleep(self.config.poll_interval_s)

    async def _status(self, run: _Run) -> RunStatus | None:
        response = await self.http.get(self.config.base_url + RUNS_PATH.format(run_id=run.run_id),
                                       headers=self.extra_headers)
        await self._check_status(response, resuming=False)
        try:
            return RunStatus.model_validate_json(response.content)
        except ValidationError:
            return None

    async def _after_stall(self, run: _Run) -> EngineOutcome:
        """The watchdog fired: one last look at the run (it may have just finished), else hold."""
        if run.unreachable:
            return failure(reasons.ENGINE_UNAVAILABLE, f"no decision event for {self.config.stall_timeout_s:g}s, "
                           f"engine unreachable: {run.last_problem}", run.provenance())
        stalled = failure(reasons.ENGINE_STALLED,
                          f"no decision event for {self.config.stall_timeout_s:g}s (heartbeats only)",
                          run.provenance())
        if run.run_id is None:
            return stalled
        try:
            status = await self._status(run)
        except Exception as exc:  # the verdict is already 'stalled'; a failed last look changes nothing
            log.info("last look at a stalled run failed", run_id=run.run_id, error=repr(exc))
            return stalled
        return (_terminal(run, status) if status else None) or stalled
