"""The claim worker: decides claimed triggers with no database connection held, then records and publishes.

Why it exists: an engine run takes seconds to minutes. Asked inside the handler's transaction, each
run held one of the pool's connections for all that time, so a few slow runs starved every other
handler (and the runs themselves) of connections. Now the handler only claims the trigger
(``decision_claims``) and this worker, for each claim, in turn:

1. leases it (one statement: an owner and a deadline, so one worker at a time has it);
2. asks the engine, holding no connection (the decision is deterministic per request: its id
   derives from the account and request id, and the engine returns the run it already has for a
   request id it has seen);
3. hands the decision to the :class:`~.recorder.DecisionRecorder`, which stores it, writes it into
   the trigger's tracking record, publishes it and deletes the claim, together with every other
   decision finished meanwhile (group commit).

A crash after 1 leaves the claim: it is redone (the engine is asked again, and answers with the
same run). A crash after the decision is stored leaves the claim and its decision: the decision is
republished with the same message id, without asking the engine. Either way one decision, one
message id.

A lease lasts ``CLAIM_LEASE_S`` and is renewed while the claim is in hand, so a killed replica's
claims are taken over by another within that long (and at most ``poll_s`` more: the scan of every
symbol that finds them runs that often), while a slow engine run keeps its claim.

Between those scans a look probes only the symbols where work may have become ready: the symbol
of a claim that finished, of a claim committed that could not start at once, and those the last
look found ready with no slot left. In a burst that is a probe per waiting symbol instead of a walk
over every symbol in the table.

Per symbol, claims are taken one at a time, oldest first (``domain.claims``); across symbols up to
``concurrency`` at once (``DECISION_CLIENT_WORKERS``). A claim that fails ``max_attempts`` times in
a row (it cannot be stored or published) goes to ``torghut.triggers.v1.dlq``, as a trigger whose
handler kept failing would, so its symbol moves on.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_runtime.commit_hooks import CommitHooks, after_commit
from torghut_runtime.kafka.deferred import DeferredOutputs
from torghut_runtime.lane_topics import backoff_s
from torghut_runtime.leased_work import LeasedWork, default_owner
from torghut_runtime.logs import correlation_id_var

from . import claims
from .claims import Claim
from .handlers import DecisionHandlers
from .recorder import DecisionRecorder

log = structlog.get_logger("torghut.decision_client.worker")


class DecisionWorker(LeasedWork):
    def __init__(self, engine: AsyncEngine, handlers: DecisionHandlers, outputs: DeferredOutputs, *,
                 concurrency: int, lease_s: float, retry_backoff_s: float, max_attempts: int,
                 owner: str | None = None, tracer: trace.Tracer | None = None) -> None:
        """``outputs``: the triggers topic's deferred outputs (the runtime's), what a decision is recorded
        and published as."""
        self.engine = engine
        self.handlers = handlers
        self.outputs = outputs
        self.recorder = DecisionRecorder(engine, outputs)
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.retry_backoff_s = retry_backoff_s
        self.max_attempts = max_attempts
        self.owner = owner or default_owner()
        self._tracer = tracer or trace.get_tracer("torghut.decision_client")
        self._failures: dict[int, tuple[int, str]] = {}
        """Failures in a row, and the last error, by claim."""
        self._seq_in_hand: dict[str, int] = {}
        """The claim being worked on, by symbol: whose lease is renewed."""
        self._maybe_ready: set[str] = set()
        """Symbols whose oldest claim may have become startable since the last look: one of theirs finished,
        or was committed while this worker could not start it. A look between full scans probes these only."""
        self._full_scan_at = 0.0
        """When (loop time) the next look scans every symbol: at the start, then every ``poll_s``, for the
        work no wake-up names (another replica's expired lease, a claim released on its stop)."""
        self.renew_every_s = lease_s / 3
        super().__init__()  # the claim being worked on, by symbol

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    async def start_ready(self) -> None:
        free = self.concurrency - len(self._in_hand)
        if free <= 0:
            return
        now = asyncio.get_running_loop().time()
        among: set[str] | None
        if now >= self._full_scan_at:
            among, self._full_scan_at = None, now + self.poll_s
        else:
            among, self._maybe_ready = self._maybe_ready, set()
            if not among:
                return
        try:
            leased = await claims.lease_ready(self.engine, busy=self._in_hand.keys(), free=free, owner=self.owner,
                                              lease_s=self.lease_s, among=among)
        except BaseException:  # the database is away: the next look tries the same again
            if among is None:
                self._full_scan_at = now
            else:
                self._maybe_ready |= among
            raise
        self._maybe_ready |= leased.waiting  # ready, but the slots ran out: looked at again next time
        for claim in leased.claims:
            if claim.symbol in self._in_hand:  # offered as it committed, while this lease was on its way
                continue
            self._seq_in_hand[claim.symbol] = claim.seq
            self.start(claim.symbol, self._work(claim), name=f"decide-{claim.request_id}")

    def offer(self, symbol: str, claim: Claim | None) -> None:
        """A claim of ``symbol`` committed: start it at once when it was leased to this worker as it was
        written and a slot and its symbol are free (no scan, no lease round trip); otherwise look at its
        symbol now (it may have been claimed behind a claim that finished meanwhile)."""
        if claim is None or len(self._in_hand) >= self.concurrency or claim.symbol in self._in_hand:
            self._maybe_ready.add(symbol)
            self.wake()
            return
        self._seq_in_hand[claim.symbol] = claim.seq
        self.start(claim.symbol, self._work(claim), name=f"decide-{claim.request_id}")

    def finished(self, key: str) -> None:
        self._maybe_ready.add(key)  # the symbol's next claim, if any, is its oldest now

    async def renew(self, keys: list[str]) -> None:
        seqs = [self._seq_in_hand[symbol] for symbol in keys if symbol in self._seq_in_hand]
        await claims.renew(self.engine, seqs, owner=self.owner, lease_s=self.lease_s)

    async def _work(self, claim: Claim) -> None:
        context = propagate.extract(claim.headers.as_dict())
        token = correlation_id_var.set(claim.headers.correlation_id)
        try:
            with self._tracer.start_as_current_span("decide claimed trigger", context=context):
                failures, error = self._failures.get(claim.seq, (0, ""))
                if failures >= self.max_attempts:
                    await self._dead_letter(claim, error, failures)
                else:
                    await self._decide_and_record(claim)
            self._failures.pop(claim.seq, None)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(claims.release(self.engine, claim.seq, owner=self.owner))
            raise
        except Exception as exc:  # the database or the broker: keep the lease, try again after a pause
            failures = self._failures.get(claim.seq, (0, ""))[0] + 1
            self._failures[claim.seq] = (failures, repr(exc))
            log.error("claimed trigger not finished; retrying", request_id=claim.request_id, attempt=failures,
                      max_attempts=self.max_attempts, error=repr(exc))
            await asyncio.sleep(backoff_s(self.retry_backoff_s, failures))
        finally:
            correlation_id_var.reset(token)

    async def _decide_and_record(self, claim: Claim) -> None:
        hooks = CommitHooks()  # what the decision counts is counted once it is stored, as in a handler
        with hooks:
            decision, fresh = claim.decision, claim.decision is None
            if decision is None:
                decision = await self.handlers.decide(claim.trigger, claim.snapshot)  # no connection held
            else:
                log.info("claimed trigger already decided; republishing", request_id=claim.request_id,
                         decision_id=decision.decision_id)
                after_commit(self.handlers.metrics.replays.inc)
        await self.recorder.record(claim, decision, fresh=fresh, hooks=hooks)

    async def _dead_letter(self, claim: Claim, error: str, failures: int) -> None:
        """Give up on a claim that keeps failing: the trigger goes to its DLQ and the claim is finished."""
        log.error("claimed trigger keeps failing; dead-lettering", request_id=claim.request_id, attempts=failures,
                  error=error)
        async with self.engine.begin() as conn:
            await self.outputs.dead_letter(conn, message_id=claim.headers.message_id,
                                           value=claim.trigger.model_dump_json().encode(), key=claim.symbol,
                                           headers=claim.headers.as_dict(), error=error, attempts=failures)
            await claims.finish(self.engine, [claim.seq], conn)
