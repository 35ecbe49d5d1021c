"""A run's slow steps: which comes next, what a redo reuses."""

from __future__ import annotations

from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_whitepaper_ingest.domain.work import Step, after_pdf, dispatch_generation, first_step


def test_a_received_run_waits_for_its_pdf_a_stored_one_for_its_dispatch_if_any() -> None:
    assert first_step(Status.RECEIVED, dispatch=False) is Step.STORE_PDF
    assert first_step(Status.PDF_STORED, dispatch=True) is Step.DISPATCH
    assert first_step(Status.PDF_STORED, dispatch=False) is None
    assert first_step(Status.FAILED, dispatch=True) is None


def test_the_dispatch_follows_a_stored_pdf_only_when_asked_for() -> None:
    assert after_pdf(stored=True, then_dispatch=True) is Step.DISPATCH
    assert after_pdf(stored=True, then_dispatch=False) is None
    assert after_pdf(stored=False, then_dispatch=True) is None


def test_a_dispatch_redone_after_a_crash_keeps_its_generation_and_so_its_idempotency_key() -> None:
    assert dispatch_generation(0, None) == 1
    assert dispatch_generation(2, None) == 3, "a requeue's dispatch is a new generation"
    assert dispatch_generation(0, 1) == 1, "claimed before, outcome unknown: the same generation again"

