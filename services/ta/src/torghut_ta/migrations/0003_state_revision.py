"""Each series state row counts its writes (``revision``), so a process can tell its own last write.

The bar handler keeps the states it committed in memory (``adapters.committed_states``) and, when
the row is still at the revision it wrote, neither reads the bytes back nor unpickles them. Rows
written before this migration start at revision 0, which no process holds.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("series_state", sa.Column("revision", sa.BigInteger, nullable=False, server_default="0",
                                            comment="writes of the row; what a process's kept state is checked by"))
    op.alter_column("series_state", "revision", server_default=None)


def downgrade() -> None:
    op.drop_column("series_state", "revision")
