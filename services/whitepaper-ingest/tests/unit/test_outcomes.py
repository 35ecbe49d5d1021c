"""Recording a step's outcome against the run as it stands then: which status changes, what becomes of the
work, and when the worker goes straight on to a dispatch claimed in the same transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_whitepaper_ingest.domain.issue_body import WhitepaperMarker
from torghut_whitepaper_ingest.domain.outcomes import (
    Current,
    DispatchClaim,
    PdfFailed,
    PdfNotNeeded,
    PdfStored,
    SubmitFailed,
    Submitted,
    WorkChange,
)
from torghut_whitepaper_ingest.domain.run import Run
from torghut_whitepaper_ingest.domain.work import Step

AT = datetime(2026, 1, 2, tzinfo=UTC)
RUN = Run(run_id="wp-1", repository="o/r", issue_number=1, issue_url="u", issue_title="t", attachment_url="a",
          pdf_url="https://arxiv.org/p.pdf", marker=WhitepaperMarker(), status=Status.RECEIVED, seq=1, generation=0)
FACTS = {"pdf_sha256": "ab" * 32, "object_uri": "file:///x"}


def now(status: Status, step: Step, *, then_dispatch: bool = True, claimed: int | None = None, ours: bool = True,
        generation: int = 0) -> Current:
    return Current(replace(RUN, status=status, generation=generation), step, then_dispatch, claimed, ours)


def test_a_stored_paper_claims_the_next_dispatch_in_the_same_transaction() -> None:
    recording = PdfStored("wp-1", FACTS).decide(now(Status.RECEIVED, Step.STORE_PDF, generation=2), AT)
    assert [m.target for m in recording.moves] == [Status.PDF_STORED]
    assert recording.moves[0].columns == FACTS
    assert (recording.work, recording.generation) == (WorkChange.DISPATCH, 3), "a requeue's dispatch: a new generation"


def test_a_stored_paper_with_no_dispatch_asked_for_finishes_the_work() -> None:
    recording = PdfStored("wp-1", FACTS).decide(now(Status.RECEIVED, Step.STORE_PDF, then_dispatch=False), AT)
    assert (recording.work, recording.generation) == (WorkChange.FINISH, None)


def test_a_worker_whose_lease_was_taken_records_the_paper_but_claims_nothing() -> None:
    recording = PdfStored("wp-1", FACTS).decide(now(Status.RECEIVED, Step.STORE_PDF, ours=False), AT)
    assert [m.target for m in recording.moves] == [Status.PDF_STORED]
    assert (recording.work, recording.generation) == (WorkChange.DISPATCH, None)
    claim = DispatchClaim("wp-1").decide(now(Status.PDF_STORED, Step.DISPATCH, ours=False), AT)
    assert (claim.moves, claim.work, claim.generation) == ((), WorkChange.KEEP, None)


def test_an_outcome_recorded_before_or_no_longer_wanted_changes_no_status() -> None:
    assert PdfStored("wp-1", FACTS).decide(None, AT).work is WorkChange.KEEP
    assert PdfStored("wp-1", FACTS).decide(now(Status.PDF_STORED, Step.DISPATCH), AT).work is WorkChange.KEEP
    assert PdfFailed("wp-1", "http_404").decide(now(Status.FAILED, Step.STORE_PDF), AT).work is WorkChange.FINISH
    assert PdfNotNeeded("wp-1").decide(now(Status.PDF_STORED, Step.STORE_PDF), AT).work is WorkChange.FINISH
    assert PdfNotNeeded("wp-1").decide(now(Status.RECEIVED, Step.STORE_PDF), AT).work is WorkChange.KEEP, \
        "requeued meanwhile: the step is wanted again"


def test_a_failed_download_fails_the_run() -> None:
    recording = PdfFailed("wp-1", "http_404").decide(now(Status.RECEIVED, Step.STORE_PDF), AT)
    assert [(m.target, m.reason) for m in recording.moves] == [(Status.FAILED, "http_404")]
    assert recording.work is WorkChange.FINISH


def test_a_claim_keeps_a_generation_claimed_before_so_a_redo_submits_the_same_key() -> None:
    assert DispatchClaim("wp-1").decide(now(Status.PDF_STORED, Step.DISPATCH, claimed=1), AT).generation == 1
    assert DispatchClaim("wp-1").decide(now(Status.PDF_STORED, Step.DISPATCH, generation=1), AT).generation == 2
    stale = DispatchClaim("wp-1").decide(now(Status.FAILED, Step.DISPATCH), AT)
    assert (stale.work, stale.generation) == (WorkChange.FINISH, None)


def test_a_submission_is_recorded_only_for_the_claim_it_was_made_under() -> None:
    accepted = Submitted("wp-1", 1, {"dispatch_generation": 1}, "agentrun-1", "uid", "Running", 2)
    recording = accepted.decide(now(Status.PDF_STORED, Step.DISPATCH, claimed=1), AT)
    assert [m.target for m in recording.moves] == [Status.DISPATCHED, Status.RUNNING]
    assert recording.moves[0].columns["dispatched_at"] == AT and recording.work is WorkChange.FINISH
    assert accepted.decide(now(Status.PDF_STORED, Step.DISPATCH, claimed=2), AT).moves == ()
    assert accepted.decide(now(Status.DISPATCHED, Step.DISPATCH, claimed=1), AT).moves == ()
    failed = SubmitFailed("wp-1", 1, {}, "agentrun_dispatch_failed:http_500 after 3 attempt(s)", 3)
    recording = failed.decide(now(Status.PDF_STORED, Step.DISPATCH, claimed=1), AT)
    assert [(m.target, m.columns["dispatch_attempts"]) for m in recording.moves] == [(Status.FAILED, 3)]
