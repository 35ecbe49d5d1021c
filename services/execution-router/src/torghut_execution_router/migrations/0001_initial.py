"""Executions, their order-feed events (outbox), control posture and the paper venue's books.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from torghut_runtime.db import create_processed_messages_table

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table(
        "executions",
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
    op.create_index("ix_executions_venue_status", "executions", ["venue", "status"])
    op.create_table(
        "execution_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("execution_id", sa.BigInteger, sa.ForeignKey("executions.id")),
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
        sa.UniqueConstraint("fingerprint", name="uq_execution_events_fingerprint"),
    )
    op.create_index("ix_execution_events_unpublished", "execution_events", ["id"],
                    postgresql_where=sa.text("payload IS NOT NULL AND published_at IS NULL"))
    op.create_index("ix_execution_events_execution", "execution_events", ["execution_id"])
    op.create_table(
        "control_commands",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_table(
        "paper_accounts",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("starting_cash", sa.Numeric, nullable=False),
        sa.Column("cash", sa.Numeric, nullable=False),
        sa.Column("realized_pl", sa.Numeric, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "paper_positions",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("qty", sa.Numeric, nullable=False),
        sa.Column("avg_entry_price", sa.Numeric),
    )
    op.create_table(
        "paper_orders",
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
    op.create_index("ix_paper_orders_open", "paper_orders", ["account", "symbol"],
                    postgresql_where=sa.text("status IN ('new', 'partially_filled')"))
    op.create_table(
        "paper_quotes",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("price", sa.Numeric, nullable=False),
        sa.Column("event_ts", TS, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "paper_fills",
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


def downgrade() -> None:
    for table in ("paper_fills", "paper_quotes", "paper_orders", "paper_positions", "paper_accounts",
                  "control_commands", "execution_events", "executions", "processed_messages"):
        op.drop_table(table)
