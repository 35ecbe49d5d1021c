"""The gap rule (in-session minutes strictly between, capped) and the late flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from torghut_market_data.domain.gaps import BarTracker, in_session, missing_minutes

M = timedelta(minutes=1)
OPEN = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # Monday 09:30 New York (EST)


def test_session_is_0930_to_1600_new_york_on_weekdays() -> None:
    assert in_session(OPEN) and not in_session(OPEN - M)
    assert in_session(OPEN + 389 * M) and not in_session(OPEN + 390 * M)
    assert not in_session(OPEN - timedelta(days=2))  # Saturday
    summer = datetime(2026, 7, 1, 13, 30, tzinfo=UTC)  # 09:30 EDT
    assert in_session(summer) and not in_session(summer - M)


def test_consecutive_bars_leave_no_gap_and_a_hole_is_the_minutes_between() -> None:
    assert missing_minutes(OPEN, OPEN + M) == []
    assert missing_minutes(None, OPEN + 10 * M) == []
    assert missing_minutes(OPEN, OPEN + 4 * M) == [OPEN + M, OPEN + 2 * M, OPEN + 3 * M]


def test_only_session_minutes_are_missing_and_the_lookback_is_capped() -> None:
    friday_close = OPEN - timedelta(days=3) + 389 * M  # Friday 15:59
    assert missing_minutes(friday_close, OPEN + 2 * M) == [OPEN, OPEN + M]
    assert missing_minutes(OPEN - 5 * M, OPEN + M) == [OPEN]  # pre-market minutes are not missing
    assert missing_minutes(OPEN, OPEN + 100 * M, max_minutes=3) == [OPEN + 97 * M, OPEN + 98 * M, OPEN + 99 * M]


def test_the_tracker_flags_late_bars_and_plans_backfills_only_for_stream_bars() -> None:
    tracker = BarTracker()
    assert tracker.plan("AAPL", OPEN, backfill=True).missing == []
    tracker.advance("AAPL", OPEN)
    plan = tracker.plan("AAPL", OPEN + 3 * M, backfill=True)
    assert plan.missing == [OPEN + M, OPEN + 2 * M] and not plan.late and plan.advances
    assert tracker.plan("AAPL", OPEN + 3 * M, backfill=False).missing == []
    tracker.advance("AAPL", OPEN + 3 * M)
    late = tracker.plan("AAPL", OPEN + M, backfill=True)
    assert late.late and not late.advances and late.missing == []
    assert not tracker.plan("AAPL", OPEN + 3 * M, backfill=True).late  # a re-send is not late
    assert tracker.late("AAPL", OPEN) and not tracker.late("MSFT", OPEN)
    assert not tracker.advance("AAPL", OPEN + M) and tracker.last["AAPL"] == OPEN + 3 * M
