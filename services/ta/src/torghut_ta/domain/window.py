"""Bar windows: the ISO 8601 duration a bar carries (``PT1M``, ``PT1S``, ``P1D``) as a timedelta."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")


@lru_cache(maxsize=64)
def parse_window(text: str) -> timedelta | None:
    """The window's length, or None for text that is not a positive day/time duration.

    Years, months and weeks are refused: they have no fixed length, and no bar source uses them.
    """
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {name: float(value) for name, value in match.groupdict().items() if value is not None}
    length = timedelta(**parts)
    return length if length > timedelta(0) else None
