"""Decimals in Janus artifacts: strings in plain notation, rounded to twelve significant digits.

Upstream wrote ``Decimal.normalize()``, which gives exponent strings such as ``1E+2`` for 100.00
(research-lane.md §5); JSON floats have the same problem (``1e-05``). Here every non-integer value
is a plain decimal string, trailing zeros dropped, zero as ``"0"``, never ``"-0"``.
"""

from __future__ import annotations

import math
from decimal import Decimal

SIGNIFICANT_DIGITS = 12


def decimal_text(value: float) -> str:
    """``value`` as a plain decimal string (``0.00001``, ``100``, ``-0.0025``); NaN and infinities are refused."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    rounded = float(f"{number:.{SIGNIFICANT_DIGITS}g}")
    if rounded == 0:
        return "0"
    text = format(Decimal(repr(rounded)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def optional_text(value: float) -> str | None:
    """:func:`decimal_text`, or None for a missing (NaN) value."""
    return None if not math.isfinite(float(value)) else decimal_text(value)


def ratio_text(part: int, whole: int) -> str:
    return decimal_text(part / whole) if whole else "0"
