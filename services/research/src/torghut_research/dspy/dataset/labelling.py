"""One labelled example: the decision request as the client sent it, and the label by the documented rule."""

from __future__ import annotations

import bisect
import hashlib
import math
from decimal import Decimal
from typing import Any

from torghut_contracts.decision_engine import (
    DecisionRequest,
    ExecutionContext,
    PortfolioContext,
    PortfolioPosition,
    RiskPolicyContext,
    TriggerContext,
)
from torghut_contracts.enums import VerdictOutcome
from torghut_contracts.models import Decision, StrategyTrigger, TradeUpdate

from .dump_reading import _Record, _Tables
from .parameters import DatasetConfig

LABEL_CONFIDENCE = 0.7


def split_of(example_id: str, eval_fraction: float) -> str:
    point = int(hashlib.sha256(example_id.encode()).hexdigest()[:8], 16) / 2**32
    return "eval" if point < eval_fraction else "train"


def _portfolio(tables: _Tables, record: _Record, decision: Decision,
               config: DatasetConfig) -> tuple[PortfolioContext, str]:
    rows = tables.snapshots.get(decision.account, [])
    known = bisect.bisect_right(rows, record.timestamp_ms, key=lambda r: r[0])
    if not known:
        return PortfolioContext(equity=Decimal(config.default_equity), buying_power=Decimal(config.default_equity),
                                current_exposure=Decimal(0)), "default"
    snapshot = rows[known - 1][2]
    held = next((p for p in snapshot.positions if p.symbol == decision.symbol), None)
    return PortfolioContext(
        equity=snapshot.equity, buying_power=snapshot.buying_power,
        current_exposure=sum((abs(p.market_value) for p in snapshot.positions), Decimal(0)),
        position=PortfolioPosition(symbol=held.symbol, qty=held.qty, market_value=held.market_value) if held else None,
        as_of=snapshot.as_of), snapshot.snapshot_id


def _fill_summary(updates: list[TradeUpdate] | None) -> dict[str, Any] | None:
    if not updates:
        return None
    qty = sum((u.fill_qty or Decimal(0) for u in updates), Decimal(0))
    notional = sum(((u.fill_qty or Decimal(0)) * (u.fill_price or Decimal(0)) for u in updates), Decimal(0))
    return {"qty": str(qty), "avgPrice": str((notional / qty).quantize(Decimal("0.0001"))) if qty else None,
            "fills": len(updates)}


def _example(decision: Decision, record: _Record, trigger: StrategyTrigger, tables: _Tables, config: DatasetConfig,
             risk_policy: RiskPolicyContext, execution: ExecutionContext, future_price: float,
             bar_spread: float, event: dict[str, Any]) -> dict[str, Any]:
    portfolio, portfolio_source = _portfolio(tables, record, decision, config)
    request = DecisionRequest(
        request_id=trigger.request_id, symbol=trigger.symbol, strategy_id=trigger.strategy_id,
        account=decision.account,
        trigger=TriggerContext(type=trigger.trigger_type, event_ts=trigger.event_ts, source=trigger.source,
                               direction=trigger.direction, price=trigger.price, features=dict(trigger.features)),
        portfolio=portfolio, risk_policy=risk_policy, execution_context=execution, required_domains=None)
    price = float(trigger.price)
    move_bps = (future_price - price) / price * 10_000
    spread = float(trigger.features["spread_bps"]) if "spread_bps" in trigger.features else bar_spread
    if not math.isfinite(spread):
        spread = config.default_spread_bps
    cost_bps = spread + 2 * config.slippage_bps
    right = "buy" if move_bps > cost_bps else "sell" if move_bps < -cost_bps else "hold"
    side = decision.intent.action.value
    verdict = tables.verdicts.get(decision.decision_id)
    vetoed = None if verdict is None or side == "hold" else verdict.outcome is VerdictOutcome.VETO
    action = "hold" if vetoed else right
    qty = 0.0 if action == "hold" else float(max(1, math.floor(float(risk_policy.max_notional_per_trade) / price)))
    rationale = (f"{config.horizon_bars} bars later the price had moved {move_bps:+.1f} bps against "
                 f"{cost_bps:.1f} bps of round-trip costs")
    if vetoed:
        rationale += f"; the risk firewall vetoed the {side}"
    flags = sorted(verdict.reason_codes) if vetoed and verdict is not None else []
    return {
        "id": decision.decision_id, "split": split_of(decision.decision_id, config.eval_fraction),
        "inputs": {"request_json": request.model_dump_json()},
        "label": {"action": action, "qty": qty, "confidence": LABEL_CONFIDENCE, "rationale": rationale,
                  "risk_flags": flags, "rightAction": right, "firewallVetoed": vetoed,
                  "moveBps": round(move_bps, 4), "costBps": round(cost_bps, 4), "janusEvent": event},
        "recorded": {"record": record.locator.split(" ", 1)[1][1:-1], "requestId": trigger.request_id,
                     "symbol": trigger.symbol, "triggerDirection": trigger.direction.value,
                     "signalEventTs": trigger.event_ts, "decisionAction": side,
                     "decisionMode": decision.provenance.mode, "portfolioSource": portfolio_source,
                     "verdict": None if verdict is None else {"outcome": verdict.outcome.value,
                                                              "reasonCodes": list(verdict.reason_codes)},
                     "fill": _fill_summary(tables.fills.get(decision.decision_id))},
    }
