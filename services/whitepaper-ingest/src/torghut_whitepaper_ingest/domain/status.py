"""The run status machine: which status may follow which, and what a requeue request means.

``received -> pdf_stored -> dispatched -> running -> finalized``, and ``failed`` from any live
status. Two edges leave ``failed``: a requeue restarts the run (``failed -> received``), and a late
``completed`` finalize reconciles a dispatch that only *looked* failed (a timeout after the request
was sent is "unknown", and the AgentRun may well have run).
"""

from __future__ import annotations

from enum import StrEnum

from torghut_contracts.enums import WhitepaperRunStatus as Status

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.PDF_STORED, Status.FAILED}),
    Status.PDF_STORED: frozenset({Status.DISPATCHED, Status.FAILED}),
    Status.DISPATCHED: frozenset({Status.RUNNING, Status.FINALIZED, Status.FAILED}),
    Status.RUNNING: frozenset({Status.FINALIZED, Status.FAILED}),
    Status.FAILED: frozenset({Status.RECEIVED, Status.FINALIZED}),
    Status.FINALIZED: frozenset(),
}

TERMINAL = frozenset({Status.FINALIZED})


class IllegalTransition(ValueError):
    """A status change the machine does not allow; the caller's request is refused, nothing is written."""

    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"illegal transition {current.value} -> {target.value}")
        self.current = current
        self.target = target


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED[current]


def check_transition(current: Status, target: Status) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(current, target)


class RequeueOutcome(StrEnum):
    REQUEUE = "requeued"
    ALREADY_COMPLETED = "already_completed"
    IN_PROGRESS = "already_in_progress"


def requeue_outcome(status: Status) -> RequeueOutcome:
    """Only a failed run is re-dispatched; a finished one stays finished, a live one is left alone."""
    if status is Status.FAILED:
        return RequeueOutcome.REQUEUE
    if status is Status.FINALIZED:
        return RequeueOutcome.ALREADY_COMPLETED
    return RequeueOutcome.IN_PROGRESS
