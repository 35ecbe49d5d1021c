"""Tables for the fuzz tier: the runtime's tracking records and what the handler was given."""

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
    op.create_table("handled", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("topic", sa.Text, nullable=False),
                    sa.Column("record_offset", sa.BigInteger, nullable=False),
                    sa.Column("body", JSONB, nullable=False))


def downgrade() -> None:
    op.drop_table("handled")
    op.drop_table("processed_messages")
