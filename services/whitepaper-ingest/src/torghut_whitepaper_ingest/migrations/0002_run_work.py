"""whitepaper-ingest: the slow step each run waits for (PDF, dispatch), its lease and a dispatch's claim.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whitepaper_run_work",
        sa.Column("run_id", sa.Text, sa.ForeignKey("whitepaper_runs.run_id"), primary_key=True),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("then_dispatch", sa.Boolean, nullable=False),
        sa.Column("dispatch_generation", sa.Integer),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("step IN ('store_pdf', 'dispatch')", name="whitepaper_run_work_step_known"),
    )
    op.create_index("whitepaper_run_work_by_age", "whitepaper_run_work", ["created_at", "run_id"])


def downgrade() -> None:
    op.drop_table("whitepaper_run_work")
