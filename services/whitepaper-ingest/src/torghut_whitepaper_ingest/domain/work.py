"""A run's slow steps, as work that is claimed, done with no connection held, then recorded.

Intake (and a requeue) only writes the run and what it waits for: a row in ``whitepaper_run_work``
naming the next slow step. The advancer then takes each step in three parts: a short transaction
that claims it, the slow call itself (download and upload, or the AgentRun submission) outside any
transaction, and a second short transaction that records the outcome. These rules say which step
comes next and what a redo after a crash must reuse.
"""

from __future__ import annotations

from enum import StrEnum

from torghut_contracts.enums import WhitepaperRunStatus as Status


class Step(StrEnum):
    STORE_PDF = "store_pdf"
    """Download the paper and put it in the object store (content-addressed: a redo writes the same object)."""
    DISPATCH = "dispatch"
    """Submit the AgentRun (with the idempotency key of the claimed generation: a redo finds the same run)."""


def first_step(status: Status, *, dispatch: bool) -> Step | None:
    """What a run waits for once intake (or a requeue) has written it: its PDF, else its dispatch."""
    if status is Status.RECEIVED:
        return Step.STORE_PDF
    if status is Status.PDF_STORED and dispatch:
        return Step.DISPATCH
    return None


def after_pdf(*, stored: bool, then_dispatch: bool) -> Step | None:
    """The step after the PDF step: the dispatch, if the PDF is stored and the run is to be dispatched."""
    return Step.DISPATCH if stored and then_dispatch else None


def dispatch_generation(run_generation: int, claimed: int | None) -> int:
    """The generation a dispatch submits. A dispatch claimed before whose outcome was never recorded
    (the worker died during the call) keeps its generation, hence its idempotency key, so the AgentRun
    it may have created is found again instead of a second one being created."""
    return claimed if claimed is not None else run_generation + 1
