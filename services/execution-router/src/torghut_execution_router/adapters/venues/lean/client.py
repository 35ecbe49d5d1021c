"""A LEAN runner over HTTP (upstream contract, reference §5.2).

Submission failures raise :class:`VenueFailure` with upstream's reason taxonomy
(``lean_submit_timeout``, ``lean_submit_http_503``, ``lean_submit_contract_violation``, ...), and the
router sends the order to the fallback venue tagged with that reason. A timeout is ambiguous, so
before giving up on the runner the adapter asks it once for the order by client_order_id: an order
the runner did take is adopted, not doubled at the fallback.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from torghut_contracts.enums import Adapter, OrderStatus

from ....domain.lean_contract import LeanContractViolation, fallback_reason, order_from_answer, submit_body
from ....domain.orders import EventSource, OrderRequest, VenueEvent, VenueOrder, state_event
from ....domain.submission import SubmitKind, SubmitOutcome
from ..base import VenueFailure, VenueUnavailable

log = structlog.get_logger("torghut.execution.lean")


class LeanAdapter:
    name = Adapter.LEAN

    def __init__(self, base_url: str, *, timeout_s: float, health_timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        self.health_timeout_s = health_timeout_s
        self.healthy: bool | None = None
        self.checked_at: float | None = None

    async def check_health(self) -> bool:
        try:
            response = await self.client.get("/healthz", timeout=self.health_timeout_s)
            self.healthy = response.is_success
        except httpx.HTTPError:
            self.healthy = False
        self.checked_at = time.monotonic()
        return self.healthy

    def mark_unhealthy(self) -> None:
        """A failed submission: keep new orders away until the next health check passes."""
        self.healthy = False

    async def submit(self, request: OrderRequest) -> SubmitOutcome:
        headers = {"X-Correlation-ID": f"torghut-{secrets.token_hex(10)}",
                   "Idempotency-Key": request.client_order_id}
        try:
            response = await self.client.post("/v1/orders/submit", json=submit_body(request), headers=headers)
        except httpx.TimeoutException as exc:
            adopted = await self._adopt_after_timeout(request.client_order_id)
            if adopted is not None:
                return adopted
            raise VenueFailure(fallback_reason("submit", "timeout")) from exc
        except httpx.HTTPError as exc:
            raise VenueFailure(fallback_reason("submit", "network_error")) from exc
        if not response.is_success:
            raise VenueFailure(fallback_reason("submit", f"http_{response.status_code}"))
        try:
            order = order_from_answer(response.json(), client_order_id=request.client_order_id, request=request)
        except (LeanContractViolation, ValueError) as exc:
            log.warning("lean runner broke its contract", client_order_id=request.client_order_id, error=str(exc))
            raise VenueFailure(fallback_reason("submit", "contract_violation")) from exc
        event = state_event(order, EventSource.SUBMIT, timestamp=order.updated_at or order.submitted_at
                            or request.approved_at)
        kind = SubmitKind.REJECTED if order.status is OrderStatus.REJECTED else SubmitKind.ACCEPTED
        reason = "lean_rejected" if kind is SubmitKind.REJECTED else None
        return SubmitOutcome(kind, [event], order=order, reason=reason)

    async def _adopt_after_timeout(self, client_order_id: str) -> SubmitOutcome | None:
        try:
            order = await self.get_by_client_order_id(client_order_id)
        except VenueUnavailable:
            return None
        if order is None:
            return None
        log.info("lean runner took the order despite the timeout; adopting it", client_order_id=client_order_id)
        return SubmitOutcome(SubmitKind.ACCEPTED, [self._event(order)], order=order)

    def _event(self, order: VenueOrder) -> VenueEvent:
        return state_event(order, EventSource.RECONCILE, timestamp=order.updated_at or order.submitted_at
                           or datetime.now(UTC))

    async def _read(self, path: str) -> Any:
        try:
            response = await self.client.get(path)
        except httpx.HTTPError as exc:
            raise VenueUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise VenueUnavailable(f"lean_read_http_{response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise VenueUnavailable("lean_read_contract_violation") from exc

    async def get_by_client_order_id(self, client_order_id: str) -> VenueOrder | None:
        body = await self._read(f"/v1/orders/client/{client_order_id}")
        if body is None:
            return None
        try:
            return order_from_answer(body, client_order_id=client_order_id)
        except LeanContractViolation as exc:
            raise VenueUnavailable(f"lean_read_contract_violation: {exc}") from exc

    async def list_open(self) -> list[VenueOrder]:
        body = await self._read("/v1/orders?status=open")
        items = body if isinstance(body, list) else (body or {}).get("orders", []) if isinstance(body, dict) else []
        orders = []
        for item in items:
            if isinstance(item, dict) and item.get("client_order_id"):
                try:
                    orders.append(order_from_answer(item, client_order_id=str(item["client_order_id"])))
                except LeanContractViolation:
                    continue
        return [o for o in orders if o.is_open]

    async def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        target = order.venue_order_id
        if target is None:
            found = await self.get_by_client_order_id(order.client_order_id)
            if found is None or found.venue_order_id is None:
                return []
            target = found.venue_order_id
        try:
            response = await self.client.post(f"/v1/orders/{target}/cancel")
        except httpx.HTTPError as exc:
            raise VenueUnavailable(repr(exc)) from exc
        if not response.is_success and response.status_code not in (404, 422):
            raise VenueUnavailable(f"lean_cancel_http_{response.status_code}")
        after = await self.get_by_client_order_id(order.client_order_id)
        return [self._event(after)] if after is not None else []

    async def close(self) -> None:
        await self.client.aclose()
