"""The status machine as a table: every pair of statuses is either allowed or refused."""

from __future__ import annotations

import itertools

import pytest
from torghut_contracts.enums import WhitepaperRunStatus as S
from torghut_whitepaper_ingest.domain.status import (
    IllegalTransition,
    RequeueOutcome,
    can_transition,
    check_transition,
    requeue_outcome,
)

ALLOWED = {
    (S.RECEIVED, S.PDF_STORED), (S.RECEIVED, S.FAILED),
    (S.PDF_STORED, S.DISPATCHED), (S.PDF_STORED, S.FAILED),
    (S.DISPATCHED, S.RUNNING), (S.DISPATCHED, S.FINALIZED), (S.DISPATCHED, S.FAILED),
    (S.RUNNING, S.FINALIZED), (S.RUNNING, S.FAILED),
    (S.FAILED, S.RECEIVED), (S.FAILED, S.FINALIZED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_transition(current: S, target: S) -> None:
    allowed = (current, target) in ALLOWED
    assert can_transition(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_transition(current, target)


def test_finalized_is_terminal_and_nothing_skips_the_pdf() -> None:
    assert not any(can_transition(S.FINALIZED, t) for t in S)
    assert not can_transition(S.RECEIVED, S.DISPATCHED)


@pytest.mark.parametrize(("status", "outcome"), [
    (S.FAILED, RequeueOutcome.REQUEUE), (S.FINALIZED, RequeueOutcome.ALREADY_COMPLETED),
    (S.RECEIVED, RequeueOutcome.IN_PROGRESS), (S.PDF_STORED, RequeueOutcome.IN_PROGRESS),
    (S.DISPATCHED, RequeueOutcome.IN_PROGRESS), (S.RUNNING, RequeueOutcome.IN_PROGRESS),
])
def test_only_a_failed_run_is_requeued(status: S, outcome: RequeueOutcome) -> None:
    assert requeue_outcome(status) is outcome
