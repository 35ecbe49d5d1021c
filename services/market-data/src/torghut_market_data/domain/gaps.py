"""Gap detection and the late flag, per symbol, over bar start times.

The rule (README "Gaps"): Alpaca's stream sends one bar per minute *that had trades*. When a
stream bar starts more than one window after the symbol's last published bar, the minutes strictly
between the two that fall inside the regular session (09:30-16:00 America/New_York, Monday to
Friday; holidays are not known here, asking for a holiday's minutes only returns nothing) are
*missing*, looking back at most ``max_minutes`` minutes from the triggering bar (a longer outage
backfills only its last ``max_minutes``; an overnight gap only the new session's first minutes).
They are fetched from the historical API and published **before** the triggering bar, so each
symbol's partition stays in start order.
A minute without trades is "missing" too: the backfill then simply finds no bar for it.

A bar that starts before the last published start is published with ``late=True`` and moves
nothing; one with the same start is a re-send (same message id, deduplicated downstream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

EXCHANGE = ZoneInfo("America/New_York")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
MINUTE = timedelta(minutes=1)


def in_session(start: datetime) -> bool:
    """Whether a bar starting at ``start`` lies inside the regular session (exchange time, weekdays)."""
    local = start.astimezone(EXCHANGE)
    return local.weekday() < 5 and SESSION_OPEN <= local.time() < SESSION_CLOSE


def missing_minutes(last: datetime | None, new: datetime, *, window: timedelta = MINUTE,
                    max_minutes: int = 390) -> list[datetime]:
    """The in-session window starts strictly between ``last`` and ``new``, oldest first, capped."""
    if last is None or new - last <= window:
        return []
    earliest = max(last + window, new - window * max_minutes)
    out: list[datetime] = []
    cursor = new - window
    while cursor >= earliest and len(out) < max_minutes:
        if in_session(cursor):
            out.append(cursor)
        cursor -= window
    out.reverse()
    return out


@dataclass(frozen=True)
class BarPlan:
    """What to do with one bar: its late flag and the minutes to backfill before it."""

    late: bool
    missing: list[datetime]
    advances: bool
    """Whether publishing it moves the symbol's last start."""


@dataclass
class BarTracker:
    """Each symbol's last published bar start (loaded from and saved to Postgres by the adapter)."""

    last: dict[str, datetime] = field(default_factory=dict)
    max_minutes: int = 390
    window: timedelta = MINUTE

    def plan(self, symbol: str, start: datetime, *, backfill: bool) -> BarPlan:
        """The late flag and (for a stream bar, ``backfill=True``) the missing minutes before ``start``."""
        last = self.last.get(symbol)
        if last is not None and start < last:
            return BarPlan(late=True, missing=[], advances=False)
        missing = missing_minutes(last, start, window=self.window, max_minutes=self.max_minutes) if backfill else []
        return BarPlan(late=False, missing=missing, advances=True)

    def late(self, symbol: str, start: datetime) -> bool:
        """A correction's (or any non-advancing bar's) late flag: it starts before the last start."""
        last = self.last.get(symbol)
        return last is not None and start < last

    def advance(self, symbol: str, start: datetime) -> bool:
        """Record ``start`` as published; True when it moved the symbol's last start."""
        last = self.last.get(symbol)
        if last is None or start > last:
            self.last[symbol] = start
            return True
        return False
