"""The submission state machine: from an approved order to a venue's answer, and what reports each step.

An execution is *claimed* (written) before any venue I/O. From there a submission ends

* ``acknowledged``: the venue has the order (its answer, or found by a lookup after a crash or an
  ambiguous answer);
* ``rejected``: refused by the router before any venue was called (control posture, stale order,
  no route), refused by the venue, or never acknowledged after repeated not-found lookups;
* ``unknown``: sent, outcome not known (timeout after send, 5xx, unreadable answer): never
  "rejected" before the venue says so; the reconciler looks it up by client_order_id.

A claim whose handler never finished becomes ``unknown`` too: it may or may not have reached the venue.
Each transition says what reports it on the order feed: the venue's own events, or an event the router
makes itself (``router_event``) when the venue gave none.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from torghut_contracts.enums import Adapter, OrderStatus, TradeEvent

from .orders import EventSource, VenueEvent, VenueOrder
from .routing import RouteDecision


class SubmitState(StrEnum):
    CLAIMED = "claimed"
    """Row written before any venue I/O; a crash here leaves an order that may or may not have been sent."""
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class SubmitKind(StrEnum):
    ACCEPTED = "accepted"
    """The venue has the order (possibly from an earlier attempt with the same client_order_id)."""
    REJECTED = "rejected"
    """The venue refused it; nothing was placed."""
    UNKNOWN = "unknown"
    """Sent, outcome not known (timeout after send, 5xx): reconcile by client_order_id."""


@dataclass(frozen=True)
class SubmitOutcome:
    """What a venue answered to a submission."""

    kind: SubmitKind
    events: list[VenueEvent] = field(default_factory=list)
    reason: str | None = None
    order: VenueOrder | None = None


class Intake(StrEnum):
    """What an approved order's delivery asks of the router, given the execution it finds."""

    PLACE = "place"
    """No execution yet: claim one and submit."""
    REPLAY = "replay"
    """Already submitted (a redelivery, a replay, a second approval): never a second order."""
    RECOVER = "recover"
    """A claim left by a crash: the venue may already have the order; look it up before submitting."""


def intake(existing: SubmitState | None) -> Intake:
    if existing is None:
        return Intake.PLACE
    return Intake.RECOVER if existing is SubmitState.CLAIMED else Intake.REPLAY


def refusal(block: str | None, *, age: timedelta, max_order_age_s: float, route: RouteDecision) -> str | None:
    """Why the router refuses an order before calling any venue, or None.

    ``block`` is the control posture's reason (``control.block_reason``); then an order older than
    ``max_order_age_s`` (0: no limit) is stale; then an order no venue may take has no route.
    """
    if block is not None:
        return block
    if max_order_age_s > 0 and age > timedelta(seconds=max_order_age_s):
        return "order_stale"
    if route.adapter is None:
        return route.reason or "no_route"
    return None


class RouterReport(NamedTuple):
    """The status and event of an event the router makes itself, when the venue said nothing."""

    status: OrderStatus
    event: TradeEvent


REJECTED_REPORT = RouterReport(OrderStatus.REJECTED, TradeEvent.REJECTED)
UNKNOWN_REPORT = RouterReport(OrderStatus.UNKNOWN, TradeEvent.PENDING_NEW)


@dataclass(frozen=True)
class Transition:
    """A submission's next state and what reports it."""

    state: SubmitState
    reason: str | None = None
    """The reject (or unknown) reason to store, and the reason of the router's event."""
    report: RouterReport | None = None
    """None: the venue's events report it; else the router's own event."""
    reconcile: bool = False
    """The outcome is unknown: the reconciler should look the order up now."""


def refused(reason: str) -> Transition:
    return Transition(SubmitState.REJECTED, reason, REJECTED_REPORT)


def after_outcome(outcome: SubmitOutcome) -> Transition:
    if outcome.kind is SubmitKind.ACCEPTED:
        return Transition(SubmitState.ACKNOWLEDGED)
    if outcome.kind is SubmitKind.REJECTED:
        return Transition(SubmitState.REJECTED, outcome.reason, None if outcome.events else REJECTED_REPORT)
    return Transition(SubmitState.UNKNOWN, outcome.reason, UNKNOWN_REPORT, reconcile=True)


def found_at_venue(state: SubmitState) -> SubmitState | None:
    """A lookup found the order: a claim or an unknown outcome is acknowledged (None: nothing changes)."""
    return SubmitState.ACKNOWLEDGED if state in (SubmitState.CLAIMED, SubmitState.UNKNOWN) else None


def counts_lookups(state: SubmitState) -> bool:
    """Only an unknown outcome counts its not-found lookups; other open orders are just not listed yet."""
    return state is SubmitState.UNKNOWN


def never_acknowledged(lookups: int, max_lookups: int) -> str | None:
    """Nautilus's in-flight rule: only after repeated targeted lookups is a silent submit a rejection.

    The reason to refuse the order with after ``lookups`` not-found lookups, or None: keep looking."""
    return "venue_never_acknowledged" if lookups >= max_lookups else None


ABANDONED_CLAIM = Transition(SubmitState.UNKNOWN, "claim_abandoned")
"""A claim older than the recovery period lost its handler: the lookups decide (upstream: after 120 s)."""


def router_event(order: VenueOrder, venue: Adapter, report: RouterReport, reason: str | None,
                 now: datetime) -> VenueEvent:
    """The router's own event about ``order`` (as the router knows it), reported at ``venue``."""
    reported = replace(order, venue=venue, status=report.status, updated_at=now)
    return VenueEvent(order=reported, event=report.event, timestamp=now, source=EventSource.ROUTER, reason=reason)
