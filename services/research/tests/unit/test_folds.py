"""Fold layout: rolling and anchored windows, the purge before a test window, the embargo inside it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from torghut_research.backtest.folds import layout
from torghut_research.config import WalkForward
from torghut_research.errors import InputError

HOUR = 3_600_000_000_000


def test_rolling_folds_cover_the_test_share_in_equal_blocks() -> None:
    folds = layout(0, 10 * HOUR - 1, WalkForward(folds=4, test_fraction=0.4))
    assert [(f.test_start, f.test_end) for f in folds] == [
        (6 * HOUR, 7 * HOUR), (7 * HOUR, 8 * HOUR), (8 * HOUR, 9 * HOUR), (9 * HOUR, 10 * HOUR)]
    # Rolling: each train window is as long as the first one (6 h) and ends where its test starts.
    assert [(f.train_start, f.train_end) for f in folds] == [
        (0, 6 * HOUR), (HOUR, 7 * HOUR), (2 * HOUR, 8 * HOUR), (3 * HOUR, 9 * HOUR)]


def test_anchored_folds_train_from_the_start_and_the_gaps_hold() -> None:
    plan = WalkForward(folds=2, test_fraction=0.5, scheme="anchored", purge=timedelta(minutes=30),
                       embargo=timedelta(minutes=15))
    first, second = layout(0, 4 * HOUR - 1, plan)
    assert (first.train_start, first.train_end, first.test_start) == (0, 2 * HOUR - HOUR // 2, 2 * HOUR)
    assert (second.train_start, second.train_end) == (0, 3 * HOUR - HOUR // 2)
    assert second.test_start == 3 * HOUR + HOUR // 4  # the embargo opens every test window after the first
    assert first.test_end <= second.test_start and second.test_end == 4 * HOUR


def test_gaps_that_swallow_a_window_are_refused_with_the_key() -> None:
    with pytest.raises(InputError, match="embargo"):
        layout(0, 4 * HOUR - 1, WalkForward(folds=2, embargo=timedelta(hours=2)))
    with pytest.raises(InputError, match="purge"):
        layout(0, 4 * HOUR - 1, WalkForward(folds=2, purge=timedelta(hours=3)))
    with pytest.raises(InputError, match="single instant"):
        layout(5, 5, WalkForward())
