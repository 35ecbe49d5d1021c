"""An account's ``PortfolioState`` as the JSON of its ``accounts.state`` row (and of the HTTP view).

Decimals travel as strings and datetimes as ISO 8601, so a round trip is exact, and a key missing
from an older row reads as the field's empty value (tests/unit/test_state_json.py).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from torghut_contracts.enums import Side

from ..domain.state import Latch, OpenOrder, PortfolioState, UnconfirmedFill


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parse_dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def portfolio_to_json(p: PortfolioState) -> dict[str, Any]:
    return {
        "equity": _dec(p.equity),
        "buying_power": _dec(p.buying_power),
        "day_start_equity": _dec(p.day_start_equity),
        "peak_equity": _dec(p.peak_equity),
        "snapshot_as_of": _dt(p.snapshot_as_of),
        "fills_through": _dt(p.fills_through),
        "unconfirmed_fills": [{"symbol": f.symbol, "signed_qty": str(f.signed_qty), "price": _dec(f.price),
                               "at": _dt(f.at)} for f in p.unconfirmed_fills],
        "positions": {s: str(q) for s, q in sorted(p.positions.items())},
        "position_marks": {s: str(q) for s, q in sorted(p.position_marks.items())},
        "open_orders": [
            {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
             "remaining_qty": str(o.remaining_qty), "price": str(o.price), "adds_exposure": o.adds_exposure}
            for o in p.open_orders
        ],
        "latches": [{"reason": x.reason, "detail": x.detail, "latched_at": _dt(x.latched_at)} for x in p.latches],
        "recent_approvals": [_dt(t) for t in p.recent_approvals],
        "last_approval_by_symbol": {s: _dt(t) for s, t in sorted(p.last_approval_by_symbol.items())},
        "filled_by_order": {c: str(q) for c, q in sorted(p.filled_by_order.items())},
        "trading_day": p.trading_day.isoformat() if p.trading_day else None,
        "flatten_day": p.flatten_day.isoformat() if p.flatten_day else None,
        "flattened_symbols": list(p.flattened_symbols),
        "must_be_flat_checked": p.must_be_flat_checked.isoformat() if p.must_be_flat_checked else None,
    }


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def portfolio_from_json(account: str, raw: dict[str, Any]) -> PortfolioState:
    return PortfolioState(
        account=account,
        equity=_parse_dec(raw.get("equity")),
        buying_power=_parse_dec(raw.get("buying_power")),
        day_start_equity=_parse_dec(raw.get("day_start_equity")),
        peak_equity=_parse_dec(raw.get("peak_equity")),
        snapshot_as_of=_parse_dt(raw.get("snapshot_as_of")),
        fills_through=_parse_dt(raw.get("fills_through")),
        unconfirmed_fills=tuple(UnconfirmedFill(f["symbol"], Decimal(f["signed_qty"]), _parse_dec(f["price"]),
                                                datetime.fromisoformat(f["at"]))
                                for f in raw.get("unconfirmed_fills", [])),
        positions={s: Decimal(q) for s, q in raw.get("positions", {}).items()},
        position_marks={s: Decimal(q) for s, q in raw.get("position_marks", {}).items()},
        open_orders=tuple(
            OpenOrder(o["client_order_id"], o["symbol"], Side(o["side"]), Decimal(o["remaining_qty"]),
                      Decimal(o["price"]), bool(o["adds_exposure"]))
            for o in raw.get("open_orders", [])
        ),
        latches=tuple(Latch(x["reason"], x["detail"], datetime.fromisoformat(x["latched_at"]))
                      for x in raw.get("latches", [])),
        recent_approvals=tuple(datetime.fromisoformat(t) for t in raw.get("recent_approvals", [])),
        last_approval_by_symbol={s: datetime.fromisoformat(t)
                                 for s, t in raw.get("last_approval_by_symbol", {}).items()},
        filled_by_order={c: Decimal(q) for c, q in raw.get("filled_by_order", {}).items()},
        trading_day=_day(raw.get("trading_day")),
        flatten_day=_day(raw.get("flatten_day")),
        flattened_symbols=tuple(raw.get("flattened_symbols", [])),
        must_be_flat_checked=_day(raw.get("must_be_flat_checked")),
    )


# -- accounts --------------------------------------------------------------------------------------


def state_json(portfolio: PortfolioState) -> str:
    return json.dumps(portfolio_to_json(portfolio))
