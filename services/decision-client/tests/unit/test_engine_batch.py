"""The run batcher alone: how batches form, and that no caller is ever left waiting."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest
from torghut_contracts.decision_engine import DecisionRequest, RunState, RunStatus
from torghut_decision_client.adapters.engine_batch import BatchUnsupported, RunBatcher

NOW = datetime(2026, 12, 7, 15, tzinfo=UTC)


def status_of(request: DecisionRequest) -> RunStatus:
    return RunStatus(run_id="run-" + request.request_id, request_id=request.request_id, status=RunState.RUNNING,
                     created_at=NOW, updated_at=NOW, last_event_id=1)


@pytest.fixture
def fresh_request(make_request: Callable[..., DecisionRequest]) -> Callable[[], DecisionRequest]:
    """Requests with request ids of their own."""
    ids = itertools.count()
    return lambda: make_request(f"req-{next(ids)}")


class Engine:
    """Answers each batch after ``gate`` opens, recording the batch sizes; ``fail`` raises instead."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.sizes: list[int] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def post(self, requests: Sequence[DecisionRequest]) -> list[RunStatus]:
        self.sizes.append(len(requests))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [status_of(request) for request in requests]


async def test_requests_of_one_moment_leave_together_and_later_ones_wait_for_a_free_slot(
        fresh_request: Callable[[], DecisionRequest]) -> None:
    engine = Engine()
    engine.gate.clear()
    batcher = RunBatcher(engine.post, max_runs=3, in_flight=1)
    requests = [fresh_request() for _ in range(7)]
    first = [asyncio.create_task(batcher.submit(request)) for request in requests[:5]]
    await asyncio.sleep(0.01)
    assert engine.sizes == [3], "one batch out (in_flight=1), holding at most max_runs"
    later = [asyncio.create_task(batcher.submit(request)) for request in requests[5:]]
    await asyncio.sleep(0.01)
    engine.gate.set()
    answers = await asyncio.gather(*first, *later)
    assert engine.sizes == [3, 3, 1]
    assert [answer.request_id if answer else None for answer in answers] == [r.request_id for r in requests]
    assert batcher.batches == 3


async def test_a_cancelled_caller_is_left_out_of_the_batch_and_the_others_are_answered(
        fresh_request: Callable[[], DecisionRequest]) -> None:
    engine = Engine()
    engine.gate.clear()
    batcher = RunBatcher(engine.post, max_runs=8, in_flight=1)
    blocker = asyncio.create_task(batcher.submit(fresh_request()))
    await asyncio.sleep(0.01)
    waiting = [asyncio.create_task(batcher.submit(fresh_request())) for _ in range(3)]
    await asyncio.sleep(0.01)
    waiting[1].cancel()
    engine.gate.set()
    assert (await blocker) is not None
    assert (await waiting[0]) is not None and (await waiting[2]) is not None
    assert engine.sizes == [1, 2]


@pytest.mark.parametrize("error", [RuntimeError("engine down"), BatchUnsupported("404")])
async def test_a_batch_that_fails_sends_each_of_its_runs_to_its_own_stream(
        error: Exception, fresh_request: Callable[[], DecisionRequest]) -> None:
    engine = Engine(fail=error)
    batcher = RunBatcher(engine.post, max_runs=4)
    answers = await asyncio.gather(*(batcher.submit(fresh_request()) for _ in range(3)))
    assert answers == [None, None, None]
    assert batcher.supported is not isinstance(error, BatchUnsupported)
    again = await batcher.submit(fresh_request())
    assert again is None
    assert engine.sizes == ([3] if isinstance(error, BatchUnsupported) else [3, 1])


async def test_a_cancelled_batch_leaves_no_caller_waiting(fresh_request: Callable[[], DecisionRequest]) -> None:
    engine = Engine()
    engine.gate.clear()
    batcher = RunBatcher(engine.post, max_runs=4)
    callers = [asyncio.create_task(batcher.submit(fresh_request())) for _ in range(2)]
    await asyncio.sleep(0.01)
    sending = [task for task in asyncio.all_tasks() if task.get_name().startswith("decision-batch-")]
    assert sending, "the batch is in flight"
    for task in sending:  # as a stop cancels every task left
        task.cancel()
    assert await asyncio.gather(*callers) == [None, None]


def test_a_batch_size_outside_the_contract_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 64"):
        RunBatcher(Engine().post, max_runs=65)


async def test_an_engine_without_batches_is_tried_again_after_a_while(
        fresh_request: Callable[[], DecisionRequest]) -> None:
    engine = Engine(fail=BatchUnsupported("404"))
    batcher = RunBatcher(engine.post, max_runs=4, retry_unsupported_s=0.05)
    assert await batcher.submit(fresh_request()) is None and not batcher.supported
    assert await batcher.submit(fresh_request()) is None, "within the pause: its own stream, no batch asked"
    assert engine.sizes == [1]
    await asyncio.sleep(0.06)
    engine.fail = None
    assert batcher.supported and await batcher.submit(fresh_request()) is not None
    assert engine.sizes == [1, 1]
