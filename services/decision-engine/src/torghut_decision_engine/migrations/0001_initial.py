"""Runs and their SSE events, so a restart keeps every run's state and a stream can be replayed."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False, unique=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("strategy_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("fault", sa.Text, nullable=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("lease_expires_at", TS, nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_event_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("final", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.CheckConstraint("status IN ('accepted', 'running', 'final', 'error')", name="runs_status_known"),
    )
    op.create_index("runs_live_by_lease", "runs", ["lease_expires_at"],
                    postgresql_where=sa.text("status IN ('accepted', 'running')"))
    op.create_index("runs_finished_by_update", "runs", ["updated_at"],
                    postgresql_where=sa.text("status IN ('final', 'error')"))
    op.create_table(
        "run_events",
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("event_id", sa.Integer, primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_events")
    op.drop_table("runs")
