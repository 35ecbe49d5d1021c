"""The claim worker: decides claimed triggers with no database connection held, then records and publishes.

Why it exists: an engine run takes seconds to minutes. Asked inside the handler's transaction, each
run held one of the pool's connections for all that time, so a few slow runs starved every other
handler (and the runs themselves) of connections. Now the handler only claims the trigger
(``decision_claims``) and this worker, for each claim, in turn:

1. leases it (a short transaction: an owner and a deadline, so one worker at a time has it);
2. asks the engine, holding no connection (the decision is deterministic per request: its id
   derives from the account and request id, and the engine returns the run it already has for a
   request id it has seen);
3. records the outcome in a second short transaction: the decision (``ON CONFLICT DO NOTHING``,
   so a decision stored before wins) and, in the trigger's tracking record, the output it is
   published as;
4. publishes it and, once the broker acknowledged it, deletes the claim.

A crash after 1 leaves the claim: it is redone (the engine is asked again, and answers with the
same run). A crash after 3 leaves the claim and its decision: the decision is republished with the
same message id, without asking the engine. Either way one decision, one message id.

Per symbol, claims are taken one at a time, oldest first (``domain.claims``); across symbols up to
``concurrency`` at once (``DECISION_CLIENT_WORKERS``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import Decision
from torghut_runtime.commit_hooks import CommitHooks, after_commit
from torghut_runtime.db import StoredOutput
from torghut_runtime.leased_work import LeasedWork, default_owner
from torghut_runtime.logs import correlation_id_var

from ..domain.claims import startable
from . import claims, store
from .claims import Claim
from .handlers import DecisionHandlers

log = structlog.get_logger("torghut.decision_client.worker")
Publish = Callable[[Decision, MessageHeaders], Awaitable[object]]
MAX_RETRY_S = 30.0


def decision_output(decision: Decision, cause: MessageHeaders) -> tuple[MessageHeaders, StoredOutput]:
    """The decision as the runtime would have published it as the trigger's first output: the same
    message id (derived from the trigger's), causation and correlation, and the stored bytes."""
    key = decision.account
    message_id = derived_message_id(cause.message_id, topics.DECISIONS.name, key, "0")
    headers = MessageHeaders.new(topics.DECISIONS.name, message_id=message_id, cause=cause,
                                 correlation_id=decision.request_id).with_traceparent(None)
    return headers, StoredOutput(topic=topics.DECISIONS.name, key=key,
                                 value=topics.DECISIONS.encode(decision).decode(), headers=headers.as_dict())


class DecisionWorker(LeasedWork):
    def __init__(self, engine: AsyncEngine, handlers: DecisionHandlers, publish: Publish, *, concurrency: int,
                 lease_s: float, tracking_consumer: str, retry_backoff_s: float, owner: str | None = None,
                 tracer: trace.Tracer | None = None) -> None:
        """``tracking_consumer``: the runtime's idempotency key of the triggers topic, whose tracking
        records get the decision's output. ``publish`` sends one decision with the given headers."""
        self.engine = engine
        self.handlers = handlers
        self.publish = publish
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.tracking_consumer = tracking_consumer
        self.retry_backoff_s = retry_backoff_s
        self.owner = owner or default_owner()
        self._tracer = tracer or trace.get_tracer("torghut.decision_client")
        self._failures: dict[int, int] = {}
        super().__init__()  # the claim being worked on, by symbol

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    async def start_ready(self) -> None:
        free = self.concurrency - len(self._in_hand)
        if free <= 0:
            return
        chosen = startable(await claims.heads(self.engine), busy=self._in_hand.keys(), free=free, owner=self.owner)
        for claim in await claims.lease(self.engine, [head.seq for head in chosen], owner=self.owner,
                                        lease_s=self.lease_s):
            self.start(claim.symbol, self._work(claim), name=f"decide-{claim.request_id}")

    async def _work(self, claim: Claim) -> None:
        context = propagate.extract(claim.headers.as_dict())
        token = correlation_id_var.set(claim.headers.correlation_id)
        try:
            with self._tracer.start_as_current_span("decide claimed trigger", context=context):
                await self._decide_record_publish(claim)
            self._failures.pop(claim.seq, None)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(claims.release(self.engine, claim.seq, owner=self.owner))
            raise
        except Exception as exc:  # the database or the broker: keep the lease, try again after a pause
            failures = self._failures[claim.seq] = self._failures.get(claim.seq, 0) + 1
            log.error("claimed trigger not finished; retrying", request_id=claim.request_id, attempt=failures,
                      error=repr(exc))
            await asyncio.sleep(min(MAX_RETRY_S, self.retry_backoff_s * 2 ** (failures - 1)))
        finally:
            correlation_id_var.reset(token)

    async def _decide_record_publish(self, claim: Claim) -> None:
        hooks = CommitHooks()  # what the decision counts is counted once it is stored, as in a handler
        with hooks:
            decision, fresh = claim.decision, claim.decision is None
            if decision is None:
                decision = await self.handlers.decide(claim.trigger, claim.snapshot)  # no connection held
            else:
                log.info("claimed trigger already decided; republishing", request_id=claim.request_id,
                         decision_id=decision.decision_id)
                after_commit(self.handlers.metrics.replays.inc)
            async with self.engine.begin() as conn:
                if fresh:
                    decision = await store.store_decision(conn, decision)
                headers, output = decision_output(decision, claim.headers)
                await claims.record_output(conn, consumer=self.tracking_consumer,
                                           message_id=claim.headers.message_id, output=output)
        hooks.run()
        await self.publish(decision, headers)
        await claims.finish(self.engine, claim.seq)
