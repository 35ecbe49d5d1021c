"""The risk firewall's schema: accounts, verdicts, applied trade updates, control, marks, latch audit."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_messages_table()
    # One row per account: the row every handler locks (SELECT ... FOR UPDATE) to serialise the
    # decision, trade-update and snapshot subscribers, and the portfolio state they share.
    op.create_table(
        "accounts",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("state", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # Every verdict by decision: a replayed decision gets the stored verdict back, never a new one.
    op.create_table(
        "verdicts",
        sa.Column("account", sa.Text, primary_key=True),
        sa.Column("decision_id", sa.Text, primary_key=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("client_order_id", sa.Text, nullable=True, unique=True),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("reason_codes", JSONB, nullable=False),
        sa.Column("verdict", JSONB, nullable=False),
        sa.Column("approved_order", JSONB, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_verdicts_decided_at", "verdicts", ["account", "decided_at"])
    # Trade updates applied, by fingerprint: a duplicate (venue resend, replay) is applied once.
    op.create_table(
        "trade_updates_applied",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("client_order_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("event_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # The latest operator command per scope ('global' or an account).
    op.create_table(
        "control_commands",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("command_id", sa.Text, nullable=False),
        sa.Column("command", JSONB, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The last TA signal price per symbol: price collar, exposure marks, participation volume.
    op.create_table(
        "market_marks",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("price", sa.Numeric, nullable=False),
        sa.Column("volume", sa.Numeric, nullable=True),
        sa.Column("event_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "latch_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("latch_events", "market_marks", "control_commands", "trade_updates_applied", "verdicts",
                  "accounts", "processed_messages"):
        op.drop_table(table)
