"""Tables for the runtime's own integration tests."""

import sqlalchemy as sa
from alembic import op
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table("effects", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("symbol", sa.Text, nullable=False), sa.Column("seq", sa.Integer, nullable=False))
    op.create_table("outbox_rows", sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
                    sa.Column("symbol", sa.Text, nullable=False), sa.Column("seq", sa.Integer, nullable=False),
                    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("outbox_rows")
    op.drop_table("effects")
    op.drop_table("processed_messages")
