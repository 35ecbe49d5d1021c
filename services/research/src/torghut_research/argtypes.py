"""Command-line argument types every ``torghut-research`` command shares."""

from __future__ import annotations

import argparse
from datetime import datetime


def zoned_timestamp(text: str) -> datetime:
    """An ISO-8601 time with its zone (``Z`` allowed): every artifact time derives from one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; give one, e.g. 2026-02-12T21:00:00Z")
    return moment
