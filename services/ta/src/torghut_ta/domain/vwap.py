"""Volume-weighted average prices: since the regular session's open, and over the last five minutes.

Each bar contributes its own VWAP when the source sent one (Alpaca does: the volume-weighted price
of the bar's trades), else its typical price (high + low + close) / 3, weighted by its volume.
A window without volume has no VWAP (None), rather than a division by zero.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SessionHours:
    """The regular session, in exchange time: ``[opens, closes)`` on each calendar day."""

    timezone: str = "America/New_York"
    opens: time = time(9, 30)
    closes: time = time(16, 0)

    def session_of(self, start: datetime) -> date | None:
        """The trading day whose regular session the bar starting at ``start`` belongs to, or None.

        Rule: a bar belongs to a session when it *starts* within ``[opens, closes)`` exchange
        time. Pre-market and after-hours bars belong to none: they get no session VWAP and do not
        count towards the next session's. (Holidays bring no bars; an early close's after-hours
        bars would still count, since the day's calendar is not known here.)
        """
        local = start.astimezone(ZoneInfo(self.timezone))
        return local.date() if self.opens <= local.time() < self.closes else None


@dataclass
class SessionVwap:
    """Cumulative price x volume since the open of ``session`` (reset at each new session)."""

    session: date | None = None
    pv: float = 0.0
    volume: float = 0.0

    def add(self, session: date | None, price: float, volume: float) -> float | None:
        if session is None:
            return None
        if session != self.session:
            self.session, self.pv, self.volume = session, 0.0, 0.0
        self.pv += price * volume
        self.volume += volume
        return self.pv / self.volume if self.volume > 0 else None


@dataclass
class WindowVwap:
    """VWAP over the bars whose start lies within ``span`` of the latest bar's start: ``(start - span, start]``.

    With one-minute bars and a five-minute span: the latest bar and the four before it, i.e. the
    five minutes ending at the latest bar's close. Sums are recomputed over the (few) bars held
    rather than kept running, so no rounding drift builds up over a long session.
    """

    bars: deque[tuple[datetime, float, float]] = field(default_factory=deque)

    def add(self, start: datetime, price: float, volume: float, span: timedelta) -> float | None:
        self.bars.append((start, price * volume, volume))
        while self.bars and self.bars[0][0] <= start - span:
            self.bars.popleft()
        volume_sum = sum(v for _, _, v in self.bars)
        return sum(pv for _, pv, _ in self.bars) / volume_sum if volume_sum > 0 else None
