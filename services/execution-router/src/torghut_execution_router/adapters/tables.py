"""The router's tables, one SQLModel class each (its own schema; ``search_path`` points there).

The statements over them (in :mod:`.store` and the paper venue) use the Core tables named below
each class. The migrations keep their own copy of each table as it was when they ran; the
integration test ``test_tables`` migrates a fresh schema and diffs it against these classes, so the
two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class RouterTable(SQLModel, registry=registry()):
    """Base of the router's tables: a metadata of their own."""


class ExecutionRow(RouterTable, table=True):
    """One row per approved order (account, client order id): where it went and where it stands."""

    __tablename__ = "executions"
    __table_args__ = (
        sa.UniqueConstraint("account", "client_order_id", name="uq_executions_account_client_order_id"),
        sa.Index("ix_executions_venue_status", "venue", "status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    account: str = Field(sa_type=sa.Text)
    client_order_id: str = Field(sa_type=sa.Text)
    decision_id: str = Field(sa_type=sa.Text)
    request_id: str = Field(sa_type=sa.Text)
    correlation_id: str = Field(sa_type=sa.Text)
    traceparent: str | None = Field(default=None, sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    side: str = Field(sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    order_type: str = Field(sa_type=sa.Text)
    limit_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    time_in_force: str = Field(sa_type=sa.Text)
    extended_hours: bool = Field(sa_type=sa.Boolean)
    reference_price: Decimal = Field(sa_type=sa.Numeric)
    approved_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    expected_adapter: str = Field(sa_type=sa.Text)
    venue: str = Field(sa_type=sa.Text)
    fallback_reason: str | None = Field(default=None, sa_type=sa.Text)
    submit_state: str = Field(sa_type=sa.Text)
    venue_order_id: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    filled_qty: Decimal = Field(sa_type=sa.Numeric)
    filled_avg_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    feed_seq: int = Field(sa_type=sa.Integer)
    last_venue_seq: int | None = Field(default=None, sa_type=sa.Integer)
    last_event_ts: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    unknown_lookups: int = Field(sa_type=sa.Integer)
    reject_reason: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class ExecutionEventRow(RouterTable, table=True):
    """Every order-feed event by fingerprint (applied once); with a ``payload`` until published, the outbox."""

    __tablename__ = "execution_events"
    __table_args__ = (
        sa.UniqueConstraint("fingerprint", name="uq_execution_events_fingerprint"),
        sa.Index("ix_execution_events_unpublished", "id",
                 postgresql_where=sa.text("payload IS NOT NULL AND published_at IS NULL")),
        sa.Index("ix_execution_events_execution", "execution_id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    fingerprint: str = Field(sa_type=sa.Text)
    execution_id: int | None = Field(default=None, sa_type=sa.BigInteger, foreign_key="executions.id")
    account: str = Field(sa_type=sa.Text)
    venue: str = Field(sa_type=sa.Text)
    client_order_id: str = Field(sa_type=sa.Text)
    venue_order_id: str | None = Field(default=None, sa_type=sa.Text)
    event: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    filled_qty: Decimal = Field(sa_type=sa.Numeric)
    filled_avg_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    fill_qty: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    fill_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    position_qty: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    event_ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    venue_seq: int | None = Field(default=None, sa_type=sa.Integer)
    source: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    verdict: str = Field(sa_type=sa.Text)
    feed_seq: int | None = Field(default=None, sa_type=sa.Integer)
    correlation_id: str | None = Field(default=None, sa_type=sa.Text)
    traceparent: str | None = Field(default=None, sa_type=sa.Text)
    payload: str | None = Field(default=None, sa_type=sa.Text)
    """The order-feed event as JSON, while it is to be published."""
    published_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    raw: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class ControlCommandRow(RouterTable, table=True):
    """The latest operator command per scope (``global`` or an account)."""

    __tablename__ = "control_commands"

    scope: str = Field(primary_key=True, sa_type=sa.Text)
    command: str = Field(sa_type=sa.Text)
    issued_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class PaperAccountRow(RouterTable, table=True):
    """The paper venue's cash book per account, with the time of its last fill (fill times strictly increase)."""

    __tablename__ = "paper_accounts"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    starting_cash: Decimal = Field(sa_type=sa.Numeric)
    cash: Decimal = Field(sa_type=sa.Numeric)
    realized_pl: Decimal = Field(sa_type=sa.Numeric)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    last_fill_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class PaperPositionRow(RouterTable, table=True):
    """The paper venue's position per account and symbol."""

    __tablename__ = "paper_positions"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    avg_entry_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)


class PaperOrderRow(RouterTable, table=True):
    """The paper venue's orders; the open ones (new, partially filled) fill against quotes."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        sa.Index("ix_paper_orders_open", "account", "symbol",
                 postgresql_where=sa.text("status IN ('new', 'partially_filled')")),
    )

    account: str = Field(primary_key=True, sa_type=sa.Text)
    client_order_id: str = Field(primary_key=True, sa_type=sa.Text)
    venue_order_id: str = Field(sa_type=sa.Text, unique=True)
    symbol: str = Field(sa_type=sa.Text)
    side: str = Field(sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    order_type: str = Field(sa_type=sa.Text)
    limit_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    time_in_force: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    filled_qty: Decimal = Field(sa_type=sa.Numeric)
    filled_avg_price: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    submitted_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    reserve_price: Decimal = Field(sa_type=sa.Numeric)
    not_before: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    seq: int = Field(sa_type=sa.Integer)


class PaperQuoteRow(RouterTable, table=True):
    """The last TA signal price per symbol, the paper venue's market."""

    __tablename__ = "paper_quotes"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    price: Decimal = Field(sa_type=sa.Numeric)
    event_ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    seq: int = Field(sa_type=sa.BigInteger)


class PaperFillRow(RouterTable, table=True):
    """Every paper fill, in order of ``id``."""

    __tablename__ = "paper_fills"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    account: str = Field(sa_type=sa.Text)
    client_order_id: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    side: str = Field(sa_type=sa.Text)
    qty: Decimal = Field(sa_type=sa.Numeric)
    price: Decimal = Field(sa_type=sa.Numeric)
    realized_pl: Decimal = Field(sa_type=sa.Numeric)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


# The Core tables the prebuilt statements use.
executions: sa.Table = ExecutionRow.__table__  # type: ignore[attr-defined]
execution_events: sa.Table = ExecutionEventRow.__table__  # type: ignore[attr-defined]
control_commands: sa.Table = ControlCommandRow.__table__  # type: ignore[attr-defined]
paper_accounts: sa.Table = PaperAccountRow.__table__  # type: ignore[attr-defined]
paper_positions: sa.Table = PaperPositionRow.__table__  # type: ignore[attr-defined]
paper_orders: sa.Table = PaperOrderRow.__table__  # type: ignore[attr-defined]
paper_quotes: sa.Table = PaperQuoteRow.__table__  # type: ignore[attr-defined]
paper_fills: sa.Table = PaperFillRow.__table__  # type: ignore[attr-defined]
