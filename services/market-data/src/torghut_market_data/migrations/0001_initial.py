"""market-data's tables: the runtime's processed messages (its pruner reads them), each symbol's
last published bar start, file cursors."""

import sqlalchemy as sa
from alembic import op
from torghut_runtime.db import create_processed_messages_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_processed_messages_table()
    op.create_table(
        "last_bar",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "file_cursor",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, nullable=False, comment="content hash: another file starts over"),
        sa.Column("rows_done", sa.BigInteger, nullable=False, comment="data rows handled (published or dead-lettered)"),
        sa.Column("finished", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("file_cursor", "last_bar", "processed_messages"):
        op.drop_table(table)
