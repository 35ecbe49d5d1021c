"""Which claimed triggers to decide next: pure rules over what the claims table says.

A trigger's handler only *claims* it (a row in ``decision_claims``, committed with the message's
tracking record); the engine is asked afterwards, by the claim worker, with no database
connection held. These are the rules the worker follows:

* per symbol, claims are decided one at a time, oldest first (the order the symbol's triggers
  had on their partition), so a symbol's decisions are published in trigger order;
* a claim leased by another live worker is left alone until its lease runs out; one leased by a
  previous run of this very worker (same owner, not in hand) is taken back at once;
* at most ``free`` new claims are started, oldest first.

The claims table applies them in the statement that leases (``adapters.claims``), so that
finding the work and taking it is one round trip.
"""

from __future__ import annotations

from enum import Enum

CLAIM_LEASE_S = 15.0
"""How long a worker's lease on a claim lasts unless renewed. A live worker renews the leases of the
claims in hand every third of that, however long the engine takes, so the claims of a worker that
died (a killed replica) are taken over by another within this long."""


class Route(Enum):
    """What a trigger's handler does with it."""

    REPUBLISH = "republish"
    """Its decision is stored and nothing of its symbol waits: publish the stored decision now."""
    CLAIM = "claim"
    """Claim it; the worker decides (or, for a decision already stored, republishes) in symbol order."""


def route(*, decision_stored: bool, symbol_busy: bool) -> Route:
    """A stored decision is republished at once unless an older claim of the symbol is still
    unfinished: then it queues behind it, so the symbol's decisions keep their order."""
    return Route.REPUBLISH if decision_stored and not symbol_busy else Route.CLAIM
