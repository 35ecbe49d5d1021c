"""operator-console's read model: the venue's positions and fill clock on each account snapshot, so the
positions folded from fills can be reconciled against them."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("positions", pg.JSONB, nullable=False, server_default=sa.text("'{}'"),
                                        comment="symbol -> the venue's quantity, as text"))
    op.alter_column("accounts", "positions", server_default=None)
    op.add_column("accounts", sa.Column("fills_through", sa.DateTime(timezone=True), nullable=True,
                                        comment="the venue's fill clock; null: as_of"))


def downgrade() -> None:
    op.drop_column("accounts", "fills_through")
    op.drop_column("accounts", "positions")
