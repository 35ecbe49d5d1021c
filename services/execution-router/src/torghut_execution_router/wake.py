"""How the handlers tell the loops there is work (each loop sleeps on a :class:`Wake` of the runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torghut_runtime.wake import Wake


@dataclass(frozen=True)
class Wakes:
    """The loops that act on what is recorded."""

    outbox: Wake = field(default_factory=Wake)
    """A trade update is waiting to be published."""
    snapshots: Wake = field(default_factory=Wake)
    """A fill changed the account."""
    reconciler: Wake = field(default_factory=Wake)
    """An outcome is unknown, or the Alpaca stream (re)connected."""
