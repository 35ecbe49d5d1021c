"""whitepaper-ingest: runs, their lifecycle events (history and outbox), finalize results.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "('received', 'pdf_stored', 'dispatched', 'running', 'finalized', 'failed')"


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table(
        "whitepaper_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("repository", sa.Text, nullable=False),
        sa.Column("issue_number", sa.Integer, nullable=False),
        sa.Column("issue_url", sa.Text, nullable=False),
        sa.Column("issue_title", sa.Text, nullable=False),
        sa.Column("attachment_url", sa.Text, nullable=False),
        sa.Column("pdf_url", sa.Text, nullable=False),
        sa.Column("marker", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("dispatch_generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column("trigger_source", sa.Text, nullable=False),
        sa.Column("trigger_actor", sa.Text),
        sa.Column("source_event", JSONB, nullable=False),
        sa.Column("pdf_sha256", sa.Text),
        sa.Column("pdf_size_bytes", sa.BigInteger),
        sa.Column("pdf_content_type", sa.Text),
        sa.Column("object_key", sa.Text),
        sa.Column("object_uri", sa.Text),
        sa.Column("agentrun_name", sa.Text),
        sa.Column("agentrun_uid", sa.Text),
        sa.Column("agentrun_phase", sa.Text),
        sa.Column("agentrun_idempotency_key", sa.Text),
        sa.Column("agentrun_prompt_hash", sa.Text),
        sa.Column("dispatch_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
        sa.Column("finalized_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN {STATUSES}", name="whitepaper_runs_status_known"),
        sa.UniqueConstraint("repository", "issue_number", "pdf_url", name="whitepaper_runs_issue_pdf_unique"),
    )
    op.create_index("whitepaper_runs_by_issue", "whitepaper_runs", ["repository", "issue_number"])
    op.create_table(
        "whitepaper_run_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("whitepaper_runs.run_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("run_id", "seq", name="whitepaper_run_events_run_seq_unique"),
    )
    op.create_index("whitepaper_run_events_unpublished", "whitepaper_run_events", ["occurred_at"],
                    postgresql_where=sa.text("published_at IS NULL"))
    op.create_table(
        "whitepaper_run_results",
        sa.Column("run_id", sa.Text, sa.ForeignKey("whitepaper_runs.run_id"), primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("agentrun_name", sa.Text),
        sa.Column("verdict", sa.Text),
        sa.Column("design_pull_requests", JSONB, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("payload_sha256", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("whitepaper_run_results")
    op.drop_table("whitepaper_run_events")
    op.drop_table("whitepaper_runs")
    op.drop_table("processed_messages")
