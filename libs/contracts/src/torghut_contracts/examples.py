"""One valid message per topic: for docs, round-trip tests and poison-message tests downstream."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from . import topics
from .enums import (
    Action,
    Adapter,
    OrderStatus,
    OrderType,
    Side,
    TradeEvent,
    TradingState,
    VerdictOutcome,
    WhitepaperRunStatus,
)
from .models import (
    AccountSnapshot,
    ApprovedOrder,
    ControlCommand,
    Decision,
    DecisionIntent,
    EngineProvenance,
    GithubIssueEvent,
    LaneGate,
    LaneRun,
    MarketBar,
    MarketQuote,
    OrderState,
    Position,
    RiskVerdict,
    StrategyTrigger,
    TaSignal,
    TradeUpdate,
    WhitepaperRunEvent,
)
from .models.execution import derived_execution_id, derived_order_id

T0 = datetime(2026, 2, 12, 15, 31, 2, tzinfo=UTC)


def _examples() -> dict[str, BaseModel]:
    return {
        topics.MARKET_BARS.name: MarketBar(
            symbol="NVDA", start=T0.replace(second=0), open=Decimal("160.10"), high=Decimal("160.40"),
            low=Decimal("160.05"), close=Decimal("160.25"), volume=Decimal("18250"), trade_count=412,
            vwap=Decimal("160.22"), source="alpaca-iex",
        ),
        topics.MARKET_QUOTES.name: MarketQuote(
            symbol="NVDA", ts=T0, bid=Decimal("160.20"), ask=Decimal("160.30"), bid_size=Decimal("300"),
            ask_size=Decimal("200"), source="alpaca-iex",
        ),
        topics.TA_SIGNALS.name: TaSignal(
            symbol="NVDA", event_ts=T0, seq=42, price=Decimal("160.25"), macd=Decimal("1.2"),
            macd_signal=Decimal("0.8"), rsi14=Decimal("61.4"), bid=Decimal("160.20"), ask=Decimal("160.30"),
            spread_bps=Decimal("6.2"),
        ),
        topics.TRIGGERS.name: StrategyTrigger(
            request_id="3f1c0b6a9e2d4c7f8a1b2c3d4e5f6a7b", strategy_id="macd-rsi-v1", symbol="NVDA",
            direction=Side.BUY, trigger_type="macd_cross_up", event_ts=T0, signal_seq=42,
            price=Decimal("160.25"), features={"macd": Decimal("1.2"), "rsi14": Decimal("61.4")}, triggered_at=T0,
        ),
        topics.DECISIONS.name: Decision(
            decision_id="dec-3f1c0b6a9e2d", request_id="3f1c0b6a9e2d4c7f8a1b2c3d4e5f6a7b", account="paper-main",
            symbol="NVDA", strategy_id="macd-rsi-v1", intent=DecisionIntent(action=Action.BUY, qty=Decimal("10")),
            confidence=Decimal("0.7"), reference_price=Decimal("160.25"), signal_event_ts=T0, decided_at=T0,
            provenance=EngineProvenance(transport="decision-engine", mode="deterministic", engine_version="1"),
        ),
        topics.ORDERS_APPROVED.name: ApprovedOrder(
            client_order_id="th-0123456789abcdef0123456789abcd", decision_id="dec-3f1c0b6a9e2d",
            request_id="3f1c0b6a9e2d4c7f8a1b2c3d4e5f6a7b", account="paper-main", symbol="NVDA", side=Side.BUY,
            qty=Decimal("10"), reference_price=Decimal("160.25"), max_slippage_bps=Decimal("25"),
            approved_at=T0,
        ),
        topics.RISK_VERDICTS.name: RiskVerdict(
            verdict_id="ver-3f1c0b6a9e2d", decision_id="dec-3f1c0b6a9e2d",
            request_id="3f1c0b6a9e2d4c7f8a1b2c3d4e5f6a7b", account="paper-main", symbol="NVDA",
            outcome=VerdictOutcome.VETO, reason_codes=["kill_switch_enabled"], side=Side.BUY,
            requested_qty=Decimal("10"), approved_qty=Decimal("0"), trading_state=TradingState.ACTIVE,
            decided_at=T0,
        ),
        topics.TRADE_UPDATES.name: TradeUpdate(
            fingerprint="0" * 64, account="paper-main", venue=Adapter.PAPER, event=TradeEvent.FILL, timestamp=T0,
            order=OrderState(venue_order_id="paper-630c0d95b526143224ffb4e8",
                             id=derived_order_id("th-0123456789abcdef0123456789abcd"),
                             client_order_id="th-0123456789abcdef0123456789abcd", symbol="NVDA", side=Side.BUY,
                             qty=Decimal("10"), filled_qty=Decimal("10"), filled_avg_price=Decimal("160.27"),
                             status=OrderStatus.FILLED, order_type=OrderType.MARKET, type=OrderType.MARKET,
                             created_at=T0, submitted_at=T0, updated_at=T0),
            fill_qty=Decimal("10"), fill_price=Decimal("160.27"), qty=Decimal("10"), price=Decimal("160.27"),
            execution_id=derived_execution_id("0" * 64), position_qty=Decimal("10"), feed_seq=2,
        ),
        topics.ACCOUNT_SNAPSHOTS.name: AccountSnapshot(
            snapshot_id="snap-1", account="paper-main", venue=Adapter.PAPER, as_of=T0, equity=Decimal("100000"),
            cash=Decimal("98397.30"), buying_power=Decimal("196794.60"),
            positions=[Position(symbol="NVDA", qty=Decimal("10"), avg_entry_price=Decimal("160.27"),
                                market_value=Decimal("1602.70"))],
        ),
        topics.CONTROL.name: ControlCommand(
            command_id="cmd-1", scope="global", kill_switch=False, trading_state=TradingState.ACTIVE,
            reason="market open", issued_at=T0,
        ),
        topics.GITHUB_ISSUE_EVENTS.name: GithubIssueEvent(
            delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958", event="issues", action="opened",
            repository="proompteng/lab", issue_number=12, received_at=T0,
            payload={"action": "opened", "issue": {"number": 12, "body": "..."}},
        ),
        topics.WHITEPAPER_RUNS.name: WhitepaperRunEvent(
            event_id="evt-1", run_id="wp-0123456789abcdef01234567", status=WhitepaperRunStatus.RECEIVED,
            repository="proompteng/lab", issue_number=12, occurred_at=T0,
        ),
        topics.LANE_RUNS.name: LaneRun(
            run_id="0123456789abcdef01234567", candidate_id="cand-0123456789ab", evaluated_at=T0,
            promotion_target="paper", action="deny", recommended_mode="shadow",
            reasons=["deflated_sharpe_below_threshold"],
            gates=[LaneGate(gate_id="gate0_data_integrity", passed=True),
                   LaneGate(gate_id="gate1_statistical_robustness", passed=False,
                            reasons=["deflated_sharpe_below_threshold"])],
            manifest_sha256="a" * 64, paper_patch=False, code_version="4ffd2b1",
        ),
    }


def example(topic_name: str) -> Any:
    return _examples()[topic_name]


def all_examples() -> dict[str, BaseModel]:
    return _examples()
