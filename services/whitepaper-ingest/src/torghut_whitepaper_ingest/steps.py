"""A run's slow steps, each a claim, a call with no connection held, and an outcome.

The PDF step reads the run, downloads the paper and puts it in the object store outside any
transaction, then records ``pdf_stored`` (or ``failed``) if the run still waits for it. A redo
after a crash downloads again and writes the same content-addressed object: harmless.

The dispatch step first claims the dispatch in a short transaction: the generation, hence the
AgentRun's idempotency key, is written to the run's work row before anything is submitted. It
then submits with no connection held, and records ``dispatched`` (``running``) or ``failed`` if the
run still waits for that same claim. A worker that died between the two leaves the claim: the next
one submits the same generation, and Jangar answers with the AgentRun the key already created, so
a run never gets two AgentRuns for one dispatch. The outcome of an ambiguous submission (a timeout
after the request left) stays "unknown, reconcile": the run fails with the reason, and a late
``completed`` finalize still reconciles it.

Events go to the outbox (``published_at`` unset) with the status change, and are published after
the commit, in each run's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.enums import WhitepaperRunStatus as Status

from .adapters import run_store, work_store
from .adapters.agentrun_client import AgentRunAccepted, AgentRunDispatchFailed
from .adapters.object_store import ObjectStoreError
from .adapters.outbox import EventOutbox
from .adapters.work_store import Work
from .domain import agentrun, ids
from .domain.pdf import DownloadRefused
from .domain.run import Run
from .domain.work import Step, after_pdf, dispatch_generation
from .workflow import Workflow

log = structlog.get_logger("torghut.whitepaper.steps")


@dataclass(frozen=True)
class PdfFacts:
    """What a stored paper adds to its run."""

    columns: dict[str, Any]


class RunSteps:
    def __init__(self, engine: AsyncEngine, workflow: Workflow, outbox: EventOutbox) -> None:
        self.engine = engine
        self.workflow = workflow
        self.outbox = outbox

    async def advance(self, run_id: str, *, owner: str, lease_s: float) -> None:
        """Take the run's steps until it waits for none, renewing ``owner``'s lease before each one;
        stop when the lease is someone else's (ours ran out during a step and another worker took it)."""
        while True:
            async with self.engine.begin() as conn:
                leased = await work_store.take(conn, [run_id], owner=owner, lease_s=lease_s)
                work = await work_store.get(conn, run_id) if leased else None
                run = await run_store.get(conn, run_id) if work is not None else None
            if work is None or run is None:
                return
            if work.step is Step.STORE_PDF:
                await self._store_pdf(work, run)
            else:
                await self._dispatch(work, run)
            await self.outbox.flush_quietly()

    # -- the PDF ----------------------------------------------------------------------------------
    async def _store_pdf(self, work: Work, run: Run) -> None:
        outcome = await self._fetch_and_store(run) if run.status is Status.RECEIVED else None
        async with self.engine.begin() as conn:
            run_now = await run_store.get(conn, run.run_id, lock=True)
            current = await work_store.get(conn, run.run_id)
            if current is None or current.step is not Step.STORE_PDF:
                return  # another worker recorded this step meanwhile
            if run_now is None or run_now.status is not Status.RECEIVED or outcome is None:
                log.info("pdf step no longer needed", run_id=run.run_id)
                await work_store.finish(conn, run.run_id)
                return
            if isinstance(outcome, str):
                await self.workflow.move(conn, run_now, Status.FAILED, reason=outcome, cause=work.cause)
                await work_store.finish(conn, run.run_id)
                return
            await self.workflow.move(conn, run_now, Status.PDF_STORED, reason=None, cause=work.cause,
                                     **outcome.columns)
            following = after_pdf(stored=True, then_dispatch=current.then_dispatch)
            if following is None:
                await work_store.finish(conn, run.run_id)
            else:
                await work_store.move_to(conn, run.run_id, following)

    async def _fetch_and_store(self, run: Run) -> PdfFacts | str:
        """The download and the upload, no connection held: the facts, or why the run fails."""
        w = self.workflow
        try:
            pdf = await w.fetcher.fetch(run.pdf_url)
        except DownloadRefused as exc:
            log.warning("pdf download refused", run_id=run.run_id, url=run.pdf_url, reason=exc.reason,
                        detail=exc.detail)
            return exc.reason
        key = ids.object_key(pdf.sha256)
        try:
            stored = await w.objects.put(key, pdf.data, pdf.content_type)
        except ObjectStoreError as exc:
            log.warning("pdf upload failed", run_id=run.run_id, key=key, reason=exc.reason)
            return exc.reason
        return PdfFacts({"pdf_sha256": pdf.sha256, "pdf_size_bytes": pdf.size, "pdf_content_type": pdf.content_type,
                         "object_key": stored.key, "object_uri": stored.uri})

    # -- the AgentRun -----------------------------------------------------------------------------
    async def _dispatch(self, work: Work, run: Run) -> None:
        claimed = await self._claim_dispatch(run.run_id)
        if claimed is None:
            return
        run, generation = claimed
        w = self.workflow
        body = agentrun.request_body(run, w.agentrun_config, generation)
        key = str(body["idempotencyKey"])
        facts: dict[str, Any] = {"dispatch_generation": generation, "agentrun_idempotency_key": key,
                                 "agentrun_prompt_hash": ids.prompt_hash(body["implementation"]["text"])}
        result: AgentRunAccepted | AgentRunDispatchFailed
        try:
            result = await w.agentruns.submit(body, key)  # no connection held
        except AgentRunDispatchFailed as exc:
            result = exc
        async with self.engine.begin() as conn:
            run_now = await run_store.get(conn, run.run_id, lock=True)
            current = await work_store.get(conn, run.run_id)
            if run_now is None or current is None or current.dispatch_generation != generation \
                    or run_now.status is not Status.PDF_STORED:
                log.info("dispatch already recorded", run_id=run.run_id, generation=generation)
                return
            if isinstance(result, AgentRunDispatchFailed):
                await w.move(conn, run_now, Status.FAILED, reason=result.reason, cause=work.cause,
                             dispatch_attempts=result.attempts, **facts)
            else:
                run_now = await w.move(conn, run_now, Status.DISPATCHED, reason=None, cause=work.cause,
                                       agentrun_name=result.name, agentrun_uid=result.uid,
                                       agentrun_phase=result.phase, dispatch_attempts=result.attempts,
                                       dispatched_at=w.clock(), **facts)
                if result.phase.lower() == "running":
                    await w.move(conn, run_now, Status.RUNNING, reason=None, cause=work.cause)
            await work_store.finish(conn, run.run_id)

    async def _claim_dispatch(self, run_id: str) -> tuple[Run, int] | None:
        """Write the generation this dispatch submits before submitting; None: nothing to dispatch."""
        async with self.engine.begin() as conn:
            run = await run_store.get(conn, run_id, lock=True)
            work = await work_store.get(conn, run_id)
            if run is None or work is None or work.step is not Step.DISPATCH:
                return None
            if run.status is not Status.PDF_STORED:
                log.info("dispatch no longer needed", run_id=run_id, status=run.status.value)
                await work_store.finish(conn, run_id)
                return None
            generation = dispatch_generation(run.generation, work.dispatch_generation)
            await work_store.claim_dispatch(conn, run_id, generation)
        return run, generation
