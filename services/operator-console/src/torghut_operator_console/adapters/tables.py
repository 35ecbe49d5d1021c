"""operator-console's read model, one SQLModel class per table (the statements are in :mod:`.store`).

Everything here is rebuilt from the topics: drop the schema and the console reads them again from
the start. The migrations keep their own copy of each table; ``tests/integration/test_tables.py``
migrates a fresh schema and diffs it against these classes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

TS = sa.DateTime(timezone=True)


class ConsoleTable(SQLModel, registry=registry()):
    """Base of the console's tables: a metadata of their own."""


class StageCountRow(ConsoleTable, table=True):
    """How many messages each stage has seen, and when the latest was produced."""

    __tablename__ = "stage_counts"

    stage: str = Field(primary_key=True, sa_type=sa.Text)
    seen: int = Field(sa_type=sa.BigInteger)
    last_at: datetime | None = Field(default=None, sa_type=TS)  # type: ignore[call-overload]


class HopRow(ConsoleTable, table=True):
    """One message of a pipeline topic, findable by its correlation id (kept CONSOLE_HOP_RETENTION_H)."""

    __tablename__ = "hops"
    __table_args__ = (sa.Index("hops_by_correlation", "correlation_id"), sa.Index("hops_by_produced_at", "produced_at"))

    message_id: str = Field(primary_key=True, sa_type=sa.Text)
    correlation_id: str = Field(sa_type=sa.Text)
    causation_id: str | None = Field(default=None, sa_type=sa.Text)
    stage: str = Field(sa_type=sa.Text)
    topic: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    summary: str = Field(sa_type=sa.Text)
    produced_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]


class DecisionRow(ConsoleTable, table=True):
    """A decision and, once it arrives, the firewall's verdict on it (either may arrive first)."""

    __tablename__ = "decisions"
    __table_args__ = (sa.Index("decisions_by_decided_at", "decided_at"),)

    decision_id: str = Field(primary_key=True, sa_type=sa.Text)
    correlation_id: str = Field(sa_type=sa.Text)
    account: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    action: str | None = Field(default=None, sa_type=sa.Text)
    qty: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    confidence: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    rationale: str | None = Field(default=None, sa_type=sa.Text)
    engine: str | None = Field(default=None, sa_type=sa.Text)
    decision_reasons: list[str] = Field(default_factory=list, sa_type=pg.ARRAY(sa.Text))
    risk_flags: list[str] = Field(default_factory=list, sa_type=pg.ARRAY(sa.Text))
    decided_at: datetime | None = Field(default=None, sa_type=TS)  # type: ignore[call-overload]
    verdict: str | None = Field(default=None, sa_type=sa.Text)
    verdict_reasons: list[str] = Field(default_factory=list, sa_type=pg.ARRAY(sa.Text))
    approved_qty: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    trading_state: str | None = Field(default=None, sa_type=sa.Text)
    verdict_at: datetime | None = Field(default=None, sa_type=TS)  # type: ignore[call-overload]


class OrderRow(ConsoleTable, table=True):
    """The blotter: an approved order and the latest state its trade updates report."""

    __tablename__ = "orders"

    client_order_id: str = Field(primary_key=True, sa_type=sa.Text)
    account: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    side: str = Field(sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    status: str = Field(sa_type=sa.Text)
    filled_qty: Decimal = Field(sa_type=sa.Numeric)
    filled_avg_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    correlation_id: str | None = Field(default=None, sa_type=sa.Text)
    updated_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]


class FillRow(ConsoleTable, table=True):
    """Each fill once (the trade update's fingerprint), with the account's P&L right after it."""

    __tablename__ = "fills"
    __table_args__ = (sa.Index("fills_by_account_time", "account", "filled_at"),)

    fingerprint: str = Field(primary_key=True, sa_type=sa.Text)
    account: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    side: str = Field(sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    price: Decimal = Field(sa_type=sa.Numeric)
    client_order_id: str = Field(sa_type=sa.Text)
    filled_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]
    realized_pl: Decimal = Field(sa_type=sa.Numeric, sa_column_kwargs={"comment": "the account's, after this fill"})
    unrealized_pl: Decimal = Field(sa_type=sa.Numeric, sa_column_kwargs={"comment": "at the marks of the moment"})


class PositionRow(ConsoleTable, table=True):
    """Each symbol's average-cost book per account, folded from fills."""

    __tablename__ = "positions"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    cost: Decimal = Field(sa_type=sa.Numeric)
    realized: Decimal = Field(sa_type=sa.Numeric)


class MarkRow(ConsoleTable, table=True):
    """The latest price of each symbol, from its latest signal by event time."""

    __tablename__ = "marks"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    price: Decimal = Field(sa_type=sa.Numeric)
    event_ts: datetime = Field(sa_type=TS)  # type: ignore[call-overload]


class AccountRow(ConsoleTable, table=True):
    """The venue's latest account snapshot: what it says the account holds."""

    __tablename__ = "accounts"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    venue: str = Field(sa_type=sa.Text)
    equity: Decimal = Field(sa_type=sa.Numeric)
    cash: Decimal = Field(sa_type=sa.Numeric)
    buying_power: Decimal = Field(sa_type=sa.Numeric)
    as_of: datetime = Field(sa_type=TS)  # type: ignore[call-overload]
    positions: dict[str, str] = Field(default_factory=dict, sa_type=pg.JSONB,
                                      sa_column_kwargs={"comment": "symbol -> the venue's quantity, as text"})
    fills_through: datetime | None = Field(default=None, sa_type=TS,  # type: ignore[call-overload]
                                           sa_column_kwargs={"comment": "the venue's fill clock; null: as_of"})


class ControlRow(ConsoleTable, table=True):
    """Every control command read, so the page shows who changed what and when."""

    __tablename__ = "control_commands"
    __table_args__ = (sa.Index("control_by_scope_time", "scope", "issued_at"),)

    command_id: str = Field(primary_key=True, sa_type=sa.Text)
    scope: str = Field(sa_type=sa.Text)
    kill_switch: bool = Field(sa_type=sa.Boolean)
    trading_state: str = Field(sa_type=sa.Text)
    reason: str = Field(sa_type=sa.Text)
    issued_by: str = Field(sa_type=sa.Text)
    issued_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]
    offset_seen: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"comment": "its offset: the latest wins"})


class WhitepaperRunRow(ConsoleTable, table=True):
    """Each whitepaper run's latest status (by the time the run reported it)."""

    __tablename__ = "whitepaper_runs"

    run_id: str = Field(primary_key=True, sa_type=sa.Text)
    repository: str = Field(sa_type=sa.Text)
    issue_number: int = Field(sa_type=sa.Integer)
    status: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    occurred_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]


class LaneRunRow(ConsoleTable, table=True):
    """Each research-lane run: what its gates decided (torghut.research.lane-runs.v1)."""

    __tablename__ = "lane_runs"
    __table_args__ = (sa.Index("lane_runs_by_time", "evaluated_at"),)

    run_id: str = Field(primary_key=True, sa_type=sa.Text)
    candidate_id: str = Field(sa_type=sa.Text)
    evaluated_at: datetime = Field(sa_type=TS)  # type: ignore[call-overload]
    promotion_target: str = Field(sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    recommended_mode: str = Field(sa_type=sa.Text)
    reasons: list[str] = Field(default_factory=list, sa_type=pg.ARRAY(sa.Text))
    gates: list[dict[str, object]] = Field(default_factory=list, sa_type=pg.JSONB,
                                           sa_column_kwargs={"comment": "gate_id, passed, reasons, in order"})
    manifest_sha256: str = Field(sa_type=sa.Text)
    paper_patch: bool = Field(sa_type=sa.Boolean)
    code_version: str = Field(sa_type=sa.Text)


class DeadLetterRow(ConsoleTable, table=True):
    """Per dead-letter topic: how many, and the latest one's reason."""

    __tablename__ = "dead_letters"

    topic: str = Field(primary_key=True, sa_type=sa.Text)
    seen: int = Field(sa_type=sa.BigInteger)
    last_reason: str = Field(sa_type=sa.Text)
    last_error: str = Field(sa_type=sa.Text)
    last_consumer: str = Field(sa_type=sa.Text)
    last_at: datetime | None = Field(default=None, sa_type=TS)  # type: ignore[call-overload]


class DeadLetterOffsetRow(ConsoleTable, table=True):
    """Where the dead-letter reader goes on: written in the transaction that counts what it read."""

    __tablename__ = "dead_letter_offsets"

    topic: str = Field(primary_key=True, sa_type=sa.Text)
    partition: int = Field(primary_key=True, sa_type=sa.Integer)
    next_offset: int = Field(sa_type=sa.BigInteger)
