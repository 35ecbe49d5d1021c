"""The console's positions against the venue's: do the fills it read add up to what the venue holds?

The console folds positions from the trade updates it reads; the venue's snapshot states what it
holds. They are compared at the venue's fill clock (``fills_through``, else the snapshot's
``as_of``): the fills the console holds up to then, summed per symbol, against the snapshot's
positions. A symbol where they differ means a fill the console has not read (yet), one the venue
never reported, or a position opened outside the suite: an operator wants to see it, not a total
that looks right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionGap:
    symbol: str
    from_fills: Decimal
    at_venue: Decimal


def position_gaps(from_fills: Mapping[str, Decimal], at_venue: Mapping[str, Decimal]) -> list[PositionGap]:
    """Every symbol whose quantity differs, by symbol; a symbol missing on one side holds zero there."""
    symbols = sorted(set(from_fills) | set(at_venue))
    gaps = (PositionGap(s, from_fills.get(s, ZERO), at_venue.get(s, ZERO)) for s in symbols)
    return [gap for gap in gaps if gap.from_fills != gap.at_venue]
