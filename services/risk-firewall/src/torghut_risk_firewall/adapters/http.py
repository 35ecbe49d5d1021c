"""Operator HTTP routes: read an account's state and the limits in force; reset latched stops.

A latched stop (daily loss, drawdown, not flat in time) keeps the account REDUCING until an
operator resets it here, on purpose: a control command that merely re-states ACTIVE (say, to
turn the kill switch off) must not silently clear a loss stop.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field, SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_contracts.posture import effective_posture
from torghut_contracts.types import Label, Text
from torghut_runtime.http_input import HttpInputError, parse_json_object, read_body

from ..domain.exposure import account_exposure, pending_by_symbol
from ..domain.limits import RiskLimits
from . import store
from .handlers import FlaggedLimit
from .portfolio_json import portfolio_to_json

MAX_BODY_BYTES = 16_384


class LimitsInForce(Protocol):
    """What the firewall judges by now (:class:`~.handlers.FirewallHandlers`)."""

    def current_limits(self) -> RiskLimits: ...

    def flagged_limits(self) -> list[FlaggedLimit]: ...


def limits_view(limits: LimitsInForce) -> dict[str, Any]:
    """Every limit as it is in force (the flag-adjusted values, not just the file), and under ``sources``
    where each flag-backed one comes from, so an operator sees what is actually applied and why.
    Every other limit is the configured one."""
    view: dict[str, Any] = json.loads(limits.current_limits().model_dump_json())
    view["sources"] = {f.name: {"source": f.source, "flag": f.flag.key, "configured": f.configured}
                       for f in limits.flagged_limits()}
    return view


class LatchReset(BaseModel):
    operator: Label = Field(min_length=1, max_length=200)
    reason: Text = Field(min_length=1, max_length=500)


def _refusal(request: Request, token: SecretStr | None) -> JSONResponse | None:
    """Resetting a loss stop re-enables risk: it needs ``Authorization: Bearer $RISK_OPERATOR_TOKEN``."""
    if token is None:
        return JSONResponse({"error": "RISK_OPERATOR_TOKEN is not configured; latch resets are disabled"},
                            status_code=503)
    given = request.headers.get("authorization", "")
    expected = "Bearer " + token.get_secret_value()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
    return None


def operator_routes(engine: AsyncEngine, limits: LimitsInForce, managed_accounts: Collection[str],
                    operator_token: SecretStr | None = None) -> list[Route]:
    async def get_limits(request: Request) -> JSONResponse:
        return JSONResponse(limits_view(limits))

    async def get_account(request: Request) -> JSONResponse:
        account = request.path_params["account"]
        async with engine.connect() as conn:
            portfolio = await store.read_account(conn, account)
            global_command, account_command = await store.control_for(conn, account)
            if portfolio is None:
                return JSONResponse({"error": f"no state for account {account!r}"}, status_code=404)
            market = await store.market_for(conn, store.symbols_of_interest(portfolio))
        control = effective_posture(global_command, account_command)
        exposure = account_exposure(portfolio, market, pending_by_symbol(portfolio.open_orders))
        return JSONResponse({
            "account": account,
            "managed": account in managed_accounts,
            "control": {"kill_switch": control.kill_switch, "trading_state": control.trading_state.value},
            "exposure": {"gross": str(exposure.gross), "net_hi": str(exposure.net_hi), "net_lo": str(exposure.net_lo),
                         "reserved_buying_power": str(exposure.reserved_buying_power),
                         "unmarked": list(exposure.unmarked)},
            "state": portfolio_to_json(portfolio),
        })

    async def reset_latches(request: Request) -> JSONResponse:
        refused = _refusal(request, operator_token)
        if refused is not None:
            return refused
        account = request.path_params["account"]
        try:
            body = LatchReset.model_validate(parse_json_object(await read_body(request, MAX_BODY_BYTES)))
        except HttpInputError as exc:
            return exc.response()
        except ValidationError as exc:
            fields = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()[:10])
            return JSONResponse({"error": "body must be {operator, reason}", "detail": fields}, status_code=422)
        async with engine.begin() as conn:
            portfolio = await store.lock_account(conn, account)
            cleared = portfolio.latches
            at = datetime.now(UTC)
            for latch in cleared:
                await store.record_latch_event(conn, account, "reset", latch, operator=body.operator, at=at)
            if cleared:
                await store.save_account(conn, replace(portfolio, latches=()))
        return JSONResponse({"account": account, "cleared": [x.reason for x in cleared],
                             "operator": body.operator, "reason": body.reason})

    return [
        Route("/api/risk/v1/limits", get_limits, methods=["GET"]),
        Route("/api/risk/v1/accounts/{account}", get_account, methods=["GET"]),
        Route("/api/risk/v1/accounts/{account}/latches/reset", reset_latches, methods=["POST"]),
    ]
