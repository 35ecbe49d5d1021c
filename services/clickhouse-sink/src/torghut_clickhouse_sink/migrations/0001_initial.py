"""clickhouse-sink's tables: processed messages only (the rows themselves go to ClickHouse)."""

from alembic import op
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_messages_table()


def downgrade() -> None:
    op.drop_table("processed_messages")
