"""operator-console's read model: each decision's risk flags, shown beside its rationale and reason codes."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("risk_flags", pg.ARRAY(sa.Text), nullable=False,
                                         server_default=sa.text("'{}'")))
    op.alter_column("decisions", "risk_flags", server_default=None)


def downgrade() -> None:
    op.drop_column("decisions", "risk_flags")
