"""The paper venue's fill clock: the time of each account's last fill, so fill times strictly increase.

Revision ID: 0002_paper_fill_clock
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_paper_fill_clock"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("paper_accounts", sa.Column("last_fill_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE paper_accounts a SET last_fill_at = (SELECT max(f.at) FROM paper_fills f "
               "WHERE f.account = a.account)")


def downgrade() -> None:
    op.drop_column("paper_accounts", "last_fill_at")
