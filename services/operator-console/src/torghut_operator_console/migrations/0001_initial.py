"""operator-console's read model: processed messages, the pipeline's hops and counts, decisions, the
blotter, fills, positions, marks, account snapshots, control commands, whitepaper runs, dead letters."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
TABLES = ("dead_letter_offsets", "dead_letters", "whitepaper_runs", "control_commands", "accounts", "marks",
          "positions", "fills", "orders", "decisions", "hops", "stage_counts", "processed_messages")


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table(
        "stage_counts",
        sa.Column("stage", sa.Text, primary_key=True),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("last_at", TS, nullable=True),
    )
    op.create_table(
        "hops",
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("causation_id", sa.Text, nullable=True),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("produced_at", TS, nullable=False),
    )
    op.create_index("hops_by_correlation", "hops", ["correlation_id"])
    op.create_index("hops_by_produced_at", "hops", ["produced_at"])
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.Text, primary_key=True),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=True),
        sa.Column("qty", sa.Numeric, nullable=True),
        sa.Column("confidence", sa.Numeric, nullable=True),
        sa.Column("rationale", sa.Text, nullable=True),
        sa.Column("engine", sa.Text, nullable=True),
        sa.Column("decision_reasons", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("verdict", sa.Text, nullable=True),
        sa.Column("verdict_reasons", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("approved_qty", sa.Numeric, nullable=True),
        sa.Column("trading_state", sa.Text, nullable=True),
        sa.Column("verdict_at", TS, nullable=True),
    )
    op.create_index("decisions_by_decided_at", "decisions", ["decided_at"])
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("qty", sa.Numeric, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("filled_qty", sa.Numeric, nullable=False),
        sa.Column("filled_avg_price", sa.Numeric, nullable=True),
        sa.Column("correlation_id", sa.Text, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "fills",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("qty", sa.Numeric, nullable=False),
        sa.Column("price", sa.Numeric, nullable=False),
        sa.Column("client_order_id", sa.Text, nullable=False),
        sa.Column("filled_at", TS, nullable=False),
        sa.Column("realized_pl", sa.Numeric, nullable=False, comment="the account's, after this fill"),
        sa.Column("unrealized_pl", sa.Numeric, nullable=False, comment="at the marks of the moment"),
    )
    op.create_index("fills_by_account_time", "fills", ["account", "filled_at"])
    op.create_table(
        "positions",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("qty", sa.Numeric, nullable=False),
        sa.Column("cost", sa.Numeric, nullable=False),
        sa.Column("realized", sa.Numeric, nullable=False),
    )
    op.create_table(
        "marks",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("price", sa.Numeric, nullable=False),
        sa.Column("event_ts", TS, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("venue", sa.Text, nullable=False),
        sa.Column("equity", sa.Numeric, nullable=False),
        sa.Column("cash", sa.Numeric, nullable=False),
        sa.Column("buying_power", sa.Numeric, nullable=False),
        sa.Column("as_of", TS, nullable=False),
    )
    op.create_table(
        "control_commands",
        sa.Column("command_id", sa.Text, primary_key=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("kill_switch", sa.Boolean, nullable=False),
        sa.Column("trading_state", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("issued_by", sa.Text, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("offset_seen", sa.BigInteger, nullable=False, comment="its offset: the latest wins"),
    )
    op.create_index("control_by_scope_time", "control_commands", ["scope", "issued_at"])
    op.create_table(
        "whitepaper_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("issue_number", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("occurred_at", TS, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("last_reason", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("last_consumer", sa.Text, nullable=False),
        sa.Column("last_at", TS, nullable=True),
    )
    op.create_table(
        "dead_letter_offsets",
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
