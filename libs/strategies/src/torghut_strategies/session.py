"""The trading window, judged on event time so that a replay decides exactly as live did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class TradingSession:
    """Regular US equity session by default: 09:30-16:00 America/New_York, Monday to Friday.

    ``holidays`` are exchange-closed dates; ``early_closes`` map a date to its early close (e.g.
    13:00 the day after Thanksgiving). Dates are exchange-local.
    """

    timezone: str = "America/New_York"
    opens: time = time(9, 30)
    closes: time = time(16, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)
    early_closes: Mapping[date, time] = field(default_factory=dict)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, ts: datetime) -> bool:
        local = ts.astimezone(self.zone)
        day = local.date()
        if local.weekday() >= 5 or day in self.holidays:
            return False
        closes = self.early_closes.get(day, self.closes)
        return self.opens <= local.time() < closes
