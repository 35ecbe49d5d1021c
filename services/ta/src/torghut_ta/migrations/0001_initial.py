"""ta's tables: processed messages, each series' indicator state, the latest quote per symbol."""

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
        "series_state",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("bar_window", sa.Text, primary_key=True, comment="bar window, e.g. PT1M"),
        sa.Column("version", sa.Integer, nullable=False,
                  comment="format of state; another build's version is not unpickled"),
        sa.Column("seq", sa.BigInteger, nullable=False, comment="bars applied to the series"),
        sa.Column("last_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False, comment="pickled SeriesState"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "latest_quote",
        sa.Column("symbol", sa.Text, primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bid", sa.Numeric, nullable=False),
        sa.Column("ask", sa.Numeric, nullable=False),
        sa.Column("bid_size", sa.Numeric, nullable=False),
        sa.Column("ask_size", sa.Numeric, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("latest_quote", "series_state", "processed_messages"):
        op.drop_table(table)
