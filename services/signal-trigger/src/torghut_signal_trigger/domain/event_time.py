"""Which time a signal is judged against when replaying, and where a ClickHouse source starts.

Live (``CLOCK=wall``) a signal's staleness is judged against the wall clock. Replaying a recorded
session (``CLOCK=event``) the wall clock means nothing; the stand-in for "now" is the stream's
watermark: the latest event time seen so far, which never goes back. The Kafka handler and the
ClickHouse source both move it with :func:`watermark_after`, so they cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

REPLAY_START = datetime(1970, 1, 2, tzinfo=UTC)
"""Where a replaying ClickHouse source without a cursor starts: the beginning of the table."""


def watermark_after(watermark: datetime | None, event_ts: datetime) -> datetime:
    """The watermark once a signal of ``event_ts`` is seen (``None``: none seen yet)."""
    return event_ts if watermark is None else max(watermark, event_ts)


def initial_cursor_time(start_at: datetime | None, *, replay: bool, lookback: timedelta, now: datetime) -> datetime:
    """Where a ClickHouse source without a cursor starts: configured, the beginning (replay), or a lookback."""
    if start_at is not None:
        return start_at
    if replay:
        return REPLAY_START
    return now - lookback
