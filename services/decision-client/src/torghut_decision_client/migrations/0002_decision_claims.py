"""Claimed triggers: written by the handler, decided by the claim worker with no connection held.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_claims",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("message_id", sa.Text, nullable=False, unique=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("symbol", sa.Text, nullable=False),
        sa.Column("trigger", JSONB, nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column("snapshot", JSONB),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
    )
    op.create_index("decision_claims_by_symbol", "decision_claims", ["symbol", "seq"])


def downgrade() -> None:
    op.drop_table("decision_claims")
