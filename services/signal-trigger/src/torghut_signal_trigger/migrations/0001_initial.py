"""signal-trigger's tables: processed messages, per-symbol state, watermarks, source cursors, outbox."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table(
        "symbol_state",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("stream", sa.Text, primary_key=True, comment="bar window of the signals ('' when none)"),
        sa.Column("state", postgresql.JSONB, nullable=False),
        sa.Column("token", sa.Text, nullable=False, comment="changes on every write: optimistic check for caches"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "stream_watermark",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "source_cursor",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("event_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "trigger_outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Text, nullable=False, unique=True),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("trigger_outbox", "source_cursor", "stream_watermark", "symbol_state", "processed_messages"):
        op.drop_table(table)
