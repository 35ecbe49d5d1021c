"""The LEAN runner's HTTP contract (reference §5.2): what an answer must contain, and fallback reasons.

A submit answer must carry ``id``, ``status``, ``symbol`` and ``qty``; a ``client_order_id``, when
returned, must be ours; the symbol must match and the quantity be positive. Anything else is a
contract violation, and the router falls back rather than trust the answer.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from torghut_contracts.enums import Adapter, OrderType, Side, TimeInForce

from .orders import OrderRequest, VenueOrder, parse_status


class LeanContractViolation(ValueError):
    """The runner answered, but not with what the contract promises."""


def fallback_reason(operation: str, kind: str) -> str:
    """Upstream's taxonomy: ``lean_<op>_contract_violation|timeout|network_error|http_<code>|failed``."""
    return f"lean_{operation}_{kind}"


def _decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise LeanContractViolation(f"{name} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise LeanContractViolation(f"{name} is not finite: {value!r}")
    return number


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise LeanContractViolation(f"not an ISO timestamp: {value!r}") from exc


def order_from_answer(body: Any, *, client_order_id: str, request: OrderRequest | None = None) -> VenueOrder:
    """Validate a runner's order answer and read it; ``request`` adds the submit-only checks."""
    if not isinstance(body, dict):
        raise LeanContractViolation("answer is not a JSON object")
    required = ("id", "status", "symbol", "qty") if request is not None else ("id", "status")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise LeanContractViolation(f"answer lacks {', '.join(missing)}")
    returned_id = body.get("client_order_id")
    if returned_id not in (None, "") and returned_id != client_order_id:
        raise LeanContractViolation(f"client_order_id {returned_id!r} is not ours ({client_order_id!r})")
    status = parse_status(body.get("status"))
    if status is None:
        raise LeanContractViolation(f"unknown status {body.get('status')!r}")
    symbol = body.get("symbol") or (request.symbol if request else None)
    qty = _decimal(body.get("qty"), "qty")
    if request is not None:
        if symbol != request.symbol:
            raise LeanContractViolation(f"symbol {symbol!r} is not {request.symbol!r}")
        if qty is None or qty <= 0:
            raise LeanContractViolation(f"qty must be > 0, got {body.get('qty')!r}")
    side_text = body.get("side") or (request.side.value if request else None)
    try:
        side = Side(str(side_text))
        order_type = OrderType(str(body.get("order_type") or body.get("type")
                                   or (request.order_type.value if request else "market")))
        tif = TimeInForce(str(body.get("time_in_force") or (request.time_in_force.value if request else "day")))
    except ValueError as exc:
        raise LeanContractViolation(str(exc)) from exc
    if not isinstance(symbol, str) or qty is None:
        raise LeanContractViolation("answer lacks symbol or qty")
    filled = _decimal(body.get("filled_qty"), "filled_qty") or Decimal(0)
    avg = _decimal(body.get("filled_avg_price"), "filled_avg_price")
    return VenueOrder(
        venue=Adapter.LEAN, client_order_id=client_order_id, venue_order_id=str(body["id"]), symbol=symbol,
        side=side, qty=qty, status=status, filled_qty=filled, filled_avg_price=avg if avg and avg > 0 else None,
        order_type=order_type, limit_price=_decimal(body.get("limit_price"), "limit_price"), time_in_force=tif,
        submitted_at=_time(body.get("submitted_at")), updated_at=_time(body.get("updated_at")),
        created_at=_time(body.get("created_at")),
        extended_hours=body["extended_hours"] if isinstance(body.get("extended_hours"), bool) else None,
    )


def submit_body(request: OrderRequest) -> dict[str, Any]:
    """``POST /v1/orders/submit`` body, as upstream's adapter sent it."""
    return {
        "symbol": request.symbol,
        "side": request.side.value,
        "qty": str(request.qty),
        "order_type": request.order_type.value,
        "time_in_force": request.time_in_force.value,
        "limit_price": str(request.limit_price) if request.limit_price is not None else None,
        "stop_price": None,
        "extra_params": {"client_order_id": request.client_order_id, "extended_hours": request.extended_hours},
    }
