"""operator-console's read model: research-lane runs (torghut.research.lane-runs.v1)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lane_runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("candidate_id", sa.Text, nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promotion_target", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("recommended_mode", sa.Text, nullable=False),
        sa.Column("reasons", pg.ARRAY(sa.Text), nullable=False),
        sa.Column("gates", pg.JSONB, nullable=False, comment="gate_id, passed, reasons, in order"),
        sa.Column("manifest_sha256", sa.Text, nullable=False),
        sa.Column("paper_patch", sa.Boolean, nullable=False),
        sa.Column("code_version", sa.Text, nullable=False),
    )
    op.create_index("lane_runs_by_time", "lane_runs", ["evaluated_at"])


def downgrade() -> None:
    op.drop_table("lane_runs")
