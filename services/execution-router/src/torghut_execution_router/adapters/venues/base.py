"""The one interface every venue adapter implements, and how a venue call can fail.

What a submission comes back as (``SubmitOutcome``) is the submission state machine's input, so it
lives in ``domain.submission``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from torghut_contracts.enums import Adapter
from torghut_contracts.models import AccountSnapshot

from ...domain.orders import OrderRequest, VenueEvent, VenueOrder
from ...domain.submission import SubmitOutcome


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
    """A venue that can describe the account (equity, buying power, positions)."""

    name: Adapter

    async def account_snapshot(self, account: str, as_of: datetime) -> AccountSnapshot: ...
