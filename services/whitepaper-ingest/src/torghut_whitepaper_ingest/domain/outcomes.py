"""What recording a step's outcome does to its run: the rules of the short transaction after a call.

A step's call (the download and upload, or the AgentRun submission) runs with no connection held;
its outcome is recorded afterwards, in a transaction it shares with the outcomes of other runs
(``recorder``), against the run and its work as they are *then*, locked: another worker, a finalize
or a requeue may have moved them meanwhile. From that state these rules say which status changes
to make, what becomes of the work row, and whether the worker goes straight on to a dispatch whose
generation the same transaction claims (one transaction between the upload and the submission, not
the three of a lease, a claim and an outcome).

A dispatch is claimed only while the lease is still this worker's: one whose lease ran out and was
taken by another records its outcome and stops, and the other worker claims the dispatch itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from torghut_contracts.enums import WhitepaperRunStatus as Status

from .run import Run
from .work import Step, after_pdf, dispatch_generation


@dataclass(frozen=True)
class Move:
    """One status change, with the run columns it sets."""

    target: Status
    reason: str | None = None
    columns: Mapping[str, Any] = field(default_factory=dict)


class WorkChange(Enum):
    KEEP = "keep"
    """Leave the work row as it is (its step was recorded already, or it is someone else's)."""
    FINISH = "finish"
    """The run waits for no slow step any more: the row goes."""
    DISPATCH = "dispatch"
    """The dispatch is the run's next step (claimed if the recording has a generation)."""


@dataclass(frozen=True)
class Recording:
    moves: tuple[Move, ...] = ()
    work: WorkChange = WorkChange.KEEP
    generation: int | None = None
    """The dispatch generation this transaction claims: the worker submits it next, once committed."""
    note: str | None = None
    """Why nothing (more) happens, for the log."""


@dataclass(frozen=True)
class Current:
    """A run and its work as the recording transaction finds them."""

    run: Run
    step: Step
    then_dispatch: bool
    claimed: int | None
    """The dispatch generation claimed before, if any."""
    ours: bool
    """The lease is still this worker's."""


@dataclass(frozen=True)
class PdfStored:
    run_id: str
    columns: Mapping[str, Any]
    """The stored paper's facts (hash, size, content type, object key and URI)."""

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if now is None or now.step is not Step.STORE_PDF:
            return Recording(note="pdf step already recorded")
        if now.run.status is not Status.RECEIVED:
            return Recording(work=WorkChange.FINISH, note="pdf step no longer needed")
        stored = (Move(Status.PDF_STORED, columns=self.columns),)
        if after_pdf(stored=True, then_dispatch=now.then_dispatch) is None:
            return Recording(stored, WorkChange.FINISH)
        generation = dispatch_generation(now.run.generation, None) if now.ours else None
        return Recording(stored, WorkChange.DISPATCH, generation)


@dataclass(frozen=True)
class PdfFailed:
    run_id: str
    reason: str

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if now is None or now.step is not Step.STORE_PDF:
            return Recording(note="pdf step already recorded")
        if now.run.status is not Status.RECEIVED:
            return Recording(work=WorkChange.FINISH, note="pdf step no longer needed")
        return Recording((Move(Status.FAILED, self.reason),), WorkChange.FINISH)


@dataclass(frozen=True)
class PdfNotNeeded:
    """No call made: the run had left ``received`` when its PDF step was leased."""

    run_id: str

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if now is None or now.step is not Step.STORE_PDF:
            return Recording(note="pdf step already recorded")
        if now.run.status is Status.RECEIVED:  # requeued meanwhile: the next lease takes the step
            return Recording(note="pdf step needed again")
        return Recording(work=WorkChange.FINISH, note="pdf step no longer needed")


@dataclass(frozen=True)
class DispatchClaim:
    """No call made: a dispatch step leased without a claimed generation (a manual dispatch, a requeue of a
    stored paper) claims one before anything is submitted."""

    run_id: str

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if now is None or now.step is not Step.DISPATCH:
            return Recording(note="dispatch step already recorded")
        if now.run.status is not Status.PDF_STORED:
            return Recording(work=WorkChange.FINISH, note="dispatch no longer needed")
        if not now.ours:
            return Recording(note="lease taken by another worker")
        return Recording(work=WorkChange.DISPATCH, generation=dispatch_generation(now.run.generation, now.claimed))


@dataclass(frozen=True)
class Submitted:
    """Jangar accepted the AgentRun of ``generation``."""

    run_id: str
    generation: int
    facts: Mapping[str, Any]
    """The generation, its idempotency key and the prompt's hash."""
    name: str
    uid: str | None
    phase: str
    attempts: int

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if not _awaits_dispatch(now, self.generation):
            return Recording(note="dispatch already recorded")
        dispatched = Move(Status.DISPATCHED, columns={
            **self.facts, "agentrun_name": self.name, "agentrun_uid": self.uid, "agentrun_phase": self.phase,
            "dispatch_attempts": self.attempts, "dispatched_at": at})
        running = (Move(Status.RUNNING),) if self.phase.lower() == "running" else ()
        return Recording((dispatched, *running), WorkChange.FINISH)


@dataclass(frozen=True)
class SubmitFailed:
    """The submission of ``generation`` failed, or its outcome is unknown (``reason`` says which)."""

    run_id: str
    generation: int
    facts: Mapping[str, Any]
    reason: str
    attempts: int

    def decide(self, now: Current | None, at: datetime) -> Recording:
        if not _awaits_dispatch(now, self.generation):
            return Recording(note="dispatch already recorded")
        failed = Move(Status.FAILED, self.reason, {**self.facts, "dispatch_attempts": self.attempts})
        return Recording((failed,), WorkChange.FINISH)


def _awaits_dispatch(now: Current | None, generation: int) -> bool:
    """The run still waits for the outcome of this very claim."""
    return (now is not None and now.step is Step.DISPATCH and now.claimed == generation
            and now.run.status is Status.PDF_STORED)


Outcome = PdfStored | PdfFailed | PdfNotNeeded | DispatchClaim | Submitted | SubmitFailed
