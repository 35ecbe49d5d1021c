"""Trading windows in America/New_York: the regular session, the cutoff, flatten and flat times.

Holidays are not known here (no exchange calendar is wired in); on a holiday the broker refuses
orders itself and the firewall's decisions are moot because no signals flow.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum
from zoneinfo import ZoneInfo

from .limits import RiskLimits

NEW_YORK = ZoneInfo("America/New_York")


class SessionPhase(IntEnum):
    """Ordered: a later phase restricts at least as much as an earlier one."""

    OPEN = 0
    CUTOFF = 1          # no new exposure
    FLATTEN = 2         # closing orders requested
    MUST_BE_FLAT = 3    # any position left latches a stop
    CLOSED = 4


def session_phase(now: datetime, limits: RiskLimits) -> SessionPhase:
    local = now.astimezone(NEW_YORK)
    if local.weekday() >= 5:
        return SessionPhase.CLOSED
    t = local.time()
    if t < limits.session_open_et or t >= limits.session_close_et:
        return SessionPhase.CLOSED
    if t >= limits.flat_confirmation_et:
        return SessionPhase.MUST_BE_FLAT
    if t >= limits.flatten_start_et:
        return SessionPhase.FLATTEN
    if t >= limits.new_exposure_cutoff_et:
        return SessionPhase.CUTOFF
    return SessionPhase.OPEN


def trading_day(now: datetime) -> date:
    return now.astimezone(NEW_YORK).date()
