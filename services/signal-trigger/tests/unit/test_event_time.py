"""The replay clock: the watermark only grows; a ClickHouse source without a cursor starts where configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from torghut_signal_trigger.domain.event_time import REPLAY_START, initial_cursor_time, watermark_after

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
LATER = T0 + timedelta(seconds=1)


@pytest.mark.parametrize(("watermark", "event_ts", "expected"), [
    (None, T0, T0),            # the first signal sets it
    (T0, LATER, LATER),        # a later one moves it
    (LATER, T0, LATER),        # an earlier one never moves it back
    (T0, T0, T0),
])
def test_the_watermark_is_the_latest_event_time_seen(watermark: datetime | None, event_ts: datetime,
                                                     expected: datetime) -> None:
    assert watermark_after(watermark, event_ts) == expected


@pytest.mark.parametrize(("start_at", "replay", "expected"), [
    (T0, False, T0),                                    # configured: wins, live or replay
    (T0, True, T0),
    (None, True, REPLAY_START),                         # replay: the beginning of the table
    (None, False, LATER - timedelta(minutes=15)),       # live: the lookback before now
])
def test_where_a_source_without_a_cursor_starts(start_at: datetime | None, replay: bool, expected: datetime) -> None:
    assert initial_cursor_time(start_at, replay=replay, lookback=timedelta(minutes=15), now=LATER) == expected
