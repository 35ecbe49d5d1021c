"""Runs asked together: the requests made in one turn of the event loop go to the engine as one batch.

Why: a deterministic run is a few milliseconds of the engine's CPU, and one HTTP round trip with its
SSE stream cost as much again at each end. A burst of triggers (a busy open, a replay) hands the
claim worker many runs at once; asking them in one ``POST .../batches`` costs one request, one
response and one insert on the engine for all of them.

Nothing about a run changes: each is created as if streamed alone (same run id, same events), and
the batch only answers its status. A run still going is followed by its id like any other. When a
batch cannot be asked (the engine has no batch endpoint, refuses the batch, or cannot be reached)
its runs are asked one stream each, which is always safe: the engine returns the run it already has
for a request id it has seen. An engine without the endpoint (404/405: Jangar, an older engine, or
one replica of it during a rolling upgrade) is remembered: every run has its own stream for the next
``UNSUPPORTED_RETRY_S``, then a batch is tried again.

Batches form by themselves, as group commits do: at most ``in_flight`` are out at once, and the
requests made meanwhile wait and leave together in the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx
import structlog
from torghut_contracts.decision_engine import (
    MAX_BATCH_REQUESTS,
    DecisionBatch,
    DecisionBatchResult,
    DecisionRequest,
    RunStatus,
)

log = structlog.get_logger("torghut.decision_client.engine")

BATCH_IN_FLIGHT = 2
"""Batches out at once: one being answered while the next gathers keeps both processes busy."""
UNSUPPORTED_RETRY_S = 300.0
"""How long an engine that answered 404/405 to a batch is asked one stream per run before the next try."""


class BatchUnsupported(Exception):
    """The engine has no batch endpoint (404/405)."""


class BatchRefused(Exception):
    """The engine answered the batch with an error: its runs are asked one stream each."""


PostBatch = Callable[[Sequence[DecisionRequest]], Awaitable[list[RunStatus]]]


async def post_batch(http: httpx.AsyncClient, url: str, headers: Mapping[str, str],
                     requests: Sequence[DecisionRequest]) -> list[RunStatus]:
    """One ``POST .../batches``: each request's run status, in request order."""
    response = await http.post(url, content=DecisionBatch(requests=list(requests)).model_dump_json(),
                               headers={**headers, "content-type": "application/json"})
    if response.status_code in (404, 405):
        raise BatchUnsupported(str(response.status_code))
    if response.status_code != 200:
        raise BatchRefused(f"engine answered the batch {response.status_code}: {response.text[:300]}")
    runs = DecisionBatchResult.model_validate_json(response.content).runs
    if [status.request_id for status in runs] != [request.request_id for request in requests]:
        raise BatchRefused("the batch's answer does not list its requests in order")
    return runs


class RunBatcher:
    """Gathers :meth:`submit` calls into batches of at most ``max_runs`` and posts them with ``post``."""

    def __init__(self, post: PostBatch, *, max_runs: int, in_flight: int = BATCH_IN_FLIGHT,
                 retry_unsupported_s: float = UNSUPPORTED_RETRY_S,
                 observe_runs: Callable[[int], None] = lambda _runs: None) -> None:
        """``observe_runs``: told the size of every batch answered (a histogram of how well batches form)."""
        if not 1 <= max_runs <= MAX_BATCH_REQUESTS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_REQUESTS} runs, not {max_runs}")
        self._post = post
        self.max_runs = max_runs
        self.in_flight = in_flight
        self.retry_unsupported_s = retry_unsupported_s
        self._unsupported_until = float("-inf")
        self.batches = 0
        """Batches answered (for tests and logs)."""
        self.observe_runs = observe_runs
        self._waiting: list[tuple[DecisionRequest, asyncio.Future[RunStatus | None]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._scheduled = False

    @property
    def supported(self) -> bool:
        """False for a while after the engine answered that it has no batch endpoint."""
        return asyncio.get_running_loop().time() >= self._unsupported_until

    async def submit(self, request: DecisionRequest) -> RunStatus | None:
        """The run's status from the batch it went in, or None: ask this run alone."""
        if not self.supported:
            return None
        future: asyncio.Future[RunStatus | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        """Send the next batch once the requests of this turn of the loop are in (``call_soon``)."""
        if self._scheduled or not self._waiting or len(self._sending) >= self.in_flight:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._send_next)

    def _send_next(self) -> None:
        self._scheduled = False
        self._waiting = [(request, future) for request, future in self._waiting if not future.done()]
        batch, self._waiting = self._waiting[:self.max_runs], self._waiting[self.max_runs:]
        if not batch:
            return
        task = asyncio.create_task(self._send(batch), name=f"decision-batch-{len(batch)}")
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._schedule()

    async def _send(self, batch: list[tuple[DecisionRequest, asyncio.Future[RunStatus | None]]]) -> None:
        answers: Sequence[RunStatus | None] = [None] * len(batch)
        try:
            if self.supported:
                answers = await self._post([request for request, _ in batch])
                self.batches += 1
                self.observe_runs(len(batch))
        except BatchUnsupported:
            if self.supported:
                log.info("the decision engine has no batch endpoint; asking one run per stream for a while",
                         retry_in_s=self.retry_unsupported_s)
            self._unsupported_until = asyncio.get_running_loop().time() + self.retry_unsupported_s
        except Exception as exc:  # each run is then asked alone, with its own retries, and answers for itself
            log.warning("a batch of decision runs could not be asked; asking each alone", runs=len(batch),
                        error=f"{type(exc).__name__}: {exc}"[:500])
        finally:  # even cancelled, no caller is left waiting: None sends it to its own stream
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
