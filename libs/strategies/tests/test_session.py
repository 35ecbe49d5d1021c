"""The trading window on event time: open/close edges, weekends, holidays, early closes, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from torghut_strategies.session import TradingSession

SESSION = TradingSession(holidays=frozenset({date(2026, 7, 3)}), early_closes={date(2026, 11, 27): time(13, 0)})


@pytest.mark.parametrize(("utc", "is_open"), [
    (datetime(2026, 2, 12, 14, 29, 59), False),   # Thu 09:29:59 EST
    (datetime(2026, 2, 12, 14, 30, 0), True),     # 09:30:00 EST: open
    (datetime(2026, 2, 12, 20, 59, 59), True),    # 15:59:59 EST
    (datetime(2026, 2, 12, 21, 0, 0), False),     # 16:00:00 EST: closed
    (datetime(2026, 2, 14, 15, 0, 0), False),     # Saturday
    (datetime(2026, 2, 15, 15, 0, 0), False),     # Sunday
    (datetime(2026, 3, 9, 13, 30, 0), True),      # Monday after the DST change: 09:30 EDT = 13:30 UTC
    (datetime(2026, 3, 6, 13, 30, 0), False),     # the Friday before: 08:30 EST
    (datetime(2026, 7, 3, 15, 0, 0), False),      # configured holiday
    (datetime(2026, 11, 27, 17, 59, 0), True),    # early close day, 12:59 EST
    (datetime(2026, 11, 27, 18, 0, 0), False),    # 13:00 EST: closed early
    (datetime(2026, 2, 13, 1, 0, 0), False),      # Friday 01:00 UTC is Thursday 20:00 in New York
], ids=lambda v: str(v))
def test_regular_session(utc: datetime, is_open: bool) -> None:
    assert SESSION.is_open(utc.replace(tzinfo=UTC)) is is_open
