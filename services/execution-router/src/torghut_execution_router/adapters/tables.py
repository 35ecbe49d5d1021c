"""The router's tables (its own schema; ``search_path`` points there). Migrations create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

executions = sa.Table(
    "executions", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("client_order_id", sa.Text, nullable=False),
    sa.Column("decision_id", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("traceparent", sa.Text),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("qty", sa.Numeric, nullable=False),
    sa.Column("order_type", sa.Text, nullable=False),
    sa.Column("limit_price", sa.Numeric),
    sa.Column("time_in_force", sa.Text, nullable=False),
    sa.Column("extended_hours", sa.Boolean, nullable=False),
    sa.Column("reference_price", sa.Numeric, nullable=False),
    sa.Column("approved_at", TS, nullable=False),
    sa.Column("expected_adapter", sa.Text, nullable=False),
    sa.Column("venue", sa.Text, nullable=False),
    sa.Column("fallback_reason", sa.Text),
    sa.Column("submit_state", sa.Text, nullable=False),
    sa.Column("venue_order_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("filled_qty", sa.Numeric, nullable=False),
    sa.Column("filled_avg_price", sa.Numeric),
    sa.Column("feed_seq", sa.Integer, nullable=False),
    sa.Column("last_venue_seq", sa.Integer),
    sa.Column("last_event_ts", TS),
    sa.Column("unknown_lookups", sa.Integer, nullable=False),
    sa.Column("reject_reason", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.UniqueConstraint("account", "client_order_id", name="uq_executions_account_client_order_id"),
)

execution_events = sa.Table(
    "execution_events", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.Text, nullable=False, unique=True),
    sa.Column("execution_id", sa.BigInteger),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("venue", sa.Text, nullable=False),
    sa.Column("client_order_id", sa.Text, nullable=False),
    sa.Column("venue_order_id", sa.Text),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("filled_qty", sa.Numeric, nullable=False),
    sa.Column("filled_avg_price", sa.Numeric),
    sa.Column("fill_qty", sa.Numeric),
    sa.Column("fill_price", sa.Numeric),
    sa.Column("position_qty", sa.Numeric),
    sa.Column("event_ts", TS, nullable=False),
    sa.Column("venue_seq", sa.Integer),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("verdict", sa.Text, nullable=False),
    sa.Column("feed_seq", sa.Integer),
    sa.Column("correlation_id", sa.Text),
    sa.Column("traceparent", sa.Text),
    sa.Column("payload", sa.Text),
    sa.Column("published_at", TS),
    sa.Column("raw", JSONB),
    sa.Column("recorded_at", TS, nullable=False),
)

control_commands = sa.Table(
    "control_commands", metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("issued_at", TS, nullable=False),
    sa.Column("received_at", TS, nullable=False),
)

paper_accounts = sa.Table(
    "paper_accounts", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("starting_cash", sa.Numeric, nullable=False),
    sa.Column("cash", sa.Numeric, nullable=False),
    sa.Column("realized_pl", sa.Numeric, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("last_fill_at", TS),
)

paper_positions = sa.Table(
    "paper_positions", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("qty", sa.Numeric, nullable=False),
    sa.Column("avg_entry_price", sa.Numeric),
)

paper_orders = sa.Table(
    "paper_orders", metadata,
    sa.Column("account", sa.Text, primary_key=True),
    sa.Column("client_order_id", sa.Text, primary_key=True),
    sa.Column("venue_order_id", sa.Text, nullable=False, unique=True),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("qty", sa.Numeric, nullable=False),
    sa.Column("order_type", sa.Text, nullable=False),
    sa.Column("limit_price", sa.Numeric),
    sa.Column("time_in_force", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("filled_qty", sa.Numeric, nullable=False),
    sa.Column("filled_avg_price", sa.Numeric),
    sa.Column("submitted_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("reserve_price", sa.Numeric, nullable=False),
    sa.Column("not_before", TS, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)

paper_quotes = sa.Table(
    "paper_quotes", metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("price", sa.Numeric, nullable=False),
    sa.Column("event_ts", TS, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

paper_fills = sa.Table(
    "paper_fills", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("client_order_id", sa.Text, nullable=False),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("qty", sa.Numeric, nullable=False),
    sa.Column("price", sa.Numeric, nullable=False),
    sa.Column("realized_pl", sa.Numeric, nullable=False),
    sa.Column("at", TS, nullable=False),
)
