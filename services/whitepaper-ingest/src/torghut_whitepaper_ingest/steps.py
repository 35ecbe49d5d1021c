"""A run's slow steps, each a call with no connection held and an outcome recorded in a short transaction.

The PDF step downloads the paper and puts it in the object store outside any transaction; its
outcome (``pdf_stored`` or ``failed``) is recorded if the run still waits for it. A redo after a
crash downloads again and writes the same content-addressed object: harmless.

The dispatch's generation, hence the AgentRun's idempotency key, is written to the run's work row
before anything is submitted: by the transaction that records the stored paper (the usual path),
or by a claim of its own when a dispatch step was leased unclaimed (a manual dispatch, a requeue of
a stored paper). The submission then runs with no connection held, and ``dispatched`` (``running``)
or ``failed`` is recorded if the run still waits for that same claim. A worker that died between
the two leaves the claim: the next one submits the same generation, and Jangar answers with the
AgentRun the key already created, so a run never gets two AgentRuns for one dispatch. The outcome
of an ambiguous submission (a timeout after the request left) stays "unknown, reconcile": the run
fails with the reason, and a late ``completed`` finalize still reconciles it.

Outcomes are recorded by the :class:`~.recorder.StepRecorder`, many runs' in one transaction
(``domain.outcomes`` has the rules). Events go to the outbox (``published_at`` unset) with the status
change, and are published after the commit, in each run's order.
"""

from __future__ import annotations

from typing import Any

import structlog
from torghut_contracts.enums import WhitepaperRunStatus as Status

from .adapters.agentrun_client import AgentRunDispatchFailed
from .adapters.object_store import ObjectStoreError
from .adapters.work_store import Leased
from .domain import agentrun, ids
from .domain.outcomes import (
    DispatchClaim,
    Outcome,
    PdfFailed,
    PdfNotNeeded,
    PdfStored,
    SubmitFailed,
    Submitted,
)
from .domain.pdf import DownloadRefused
from .domain.run import Run
from .domain.work import Step
from .recorder import StepRecorder
from .workflow import Workflow

log = structlog.get_logger("torghut.whitepaper.steps")


class RunSteps:
    def __init__(self, workflow: Workflow, recorder: StepRecorder) -> None:
        self.workflow = workflow
        self.recorder = recorder

    async def take(self, leased: Leased) -> None:
        """Take the run's steps until it waits for none this worker may take: each call, then its outcome
        recorded (with other runs'), which hands back the dispatch to submit next if it claimed one."""
        step: Leased | None = leased
        while step is not None:
            outcome = await self._call(step)  # no connection held
            step = await self.recorder.record(outcome, cause=step.work.cause)

    async def _call(self, leased: Leased) -> Outcome:
        run, work = leased.run, leased.work
        if work.step is Step.STORE_PDF:
            return await self._fetch_and_store(run) if run.status is Status.RECEIVED else PdfNotNeeded(run.run_id)
        if work.dispatch_generation is None or run.status is not Status.PDF_STORED:
            return DispatchClaim(run.run_id)
        return await self._submit(run, work.dispatch_generation)

    async def _fetch_and_store(self, run: Run) -> PdfStored | PdfFailed:
        """The download and the upload: the paper's facts, or why the run fails."""
        w = self.workflow
        try:
            pdf = await w.fetcher.fetch(run.pdf_url)
        except DownloadRefused as exc:
            log.warning("pdf download refused", run_id=run.run_id, url=run.pdf_url, reason=exc.reason,
                        detail=exc.detail)
            return PdfFailed(run.run_id, exc.reason)
        key = ids.object_key(pdf.sha256)
        try:
            stored = await w.objects.put(key, pdf.data, pdf.content_type)
        except ObjectStoreError as exc:
            log.warning("pdf upload failed", run_id=run.run_id, key=key, reason=exc.reason)
            return PdfFailed(run.run_id, exc.reason)
        return PdfStored(run.run_id, {"pdf_sha256": pdf.sha256, "pdf_size_bytes": pdf.size,
                                      "pdf_content_type": pdf.content_type, "object_key": stored.key,
                                      "object_uri": stored.uri})

    async def _submit(self, run: Run, generation: int) -> Submitted | SubmitFailed:
        """The AgentRun of the claimed ``generation``, submitted with its idempotency key."""
        w = self.workflow
        body = agentrun.request_body(run, w.agentrun_config, generation)
        key = str(body["idempotencyKey"])
        facts: dict[str, Any] = {"dispatch_generation": generation, "agentrun_idempotency_key": key,
                                 "agentrun_prompt_hash": ids.prompt_hash(body["implementation"]["text"])}
        try:
            result = await w.agentruns.submit(body, key)
        except AgentRunDispatchFailed as exc:
            return SubmitFailed(run.run_id, generation, facts, exc.reason, exc.attempts)
        return Submitted(run.run_id, generation, facts, result.name, result.uid, result.phase, result.attempts)
