"""The one interface every venue adapter implements, and what a submission can come back as."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from torghut_contracts.enums import Adapter
from torghut_contracts.models import AccountSnapshot

from ..domain.orders import OrderRequest, VenueEvent, VenueOrder


class SubmitKind(StrEnum):
    ACCEPTED = "accepted"
    """The venue has the order (possibly from an earlier attempt with the same client_order_id)."""
    REJECTED = "rejected"
    """The venue refused it; nothing was placed."""
    UNKNOWN = "unknown"
    """Sent, outcome not known (timeout after send, 5xx): reconcile by client_order_id."""


@dataclass(frozen=True)
class SubmitOutcome:
    kind: SubmitKind
    events: list[VenueEvent] = field(default_factory=list)
    reason: str | None = None
    order: VenueOrder | None = None


class VenueUnavailable(Exception):
    """A lookup, listing or cancel got no usable answer; try again later."""


class VenueFailure(Exception):
    """The venue failed in a way that allows the fallback venue to take the order (LEAN)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Venue(Protocol):
    name: Adapter

    async def submit(self, request: OrderRequest) -> SubmitOutcome: ...

    async def cancel(self, order: VenueOrder) -> list[VenueEvent]: ...

    async def get_by_client_order_id(self, client_order_id: str) -> VenueOrder | None: ...

    async def list_open(self) -> list[VenueOrder]: ...

    async def close(self) -> None: ...


class AccountSource(Protocol):
    async def account_snapshot(self, account: str, as_of: datetime) -> AccountSnapshot: ...
