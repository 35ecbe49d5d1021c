"""Series states are stored uncompressed (``STORAGE EXTERNAL``: out of line, never pglz-compressed).

A state (~7 KB pickled) is written back by every batch that touches its series. With the default
storage Postgres compresses each write with pglz: 115 us of its CPU per row against 40 us
uncompressed (500 states upserted in one statement, ``bench/ta.py``), on the hot path of every
bar. Uncompressed, a state takes about 2.4 times the bytes on disk and in the WAL (~7 KB a
write). lz4 would keep most of both, but not every Postgres is built with it.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE series_state ALTER COLUMN state SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE series_state ALTER COLUMN state SET STORAGE EXTENDED")
