"""Decisions and the triggers' tracking records are written uncompressed up to a page.

A decision's payload is 2-3 KB of JSON and the trigger's tracking record holds it again as the
message's output, so each decision paid for two compressions. Uncompressed, storing a group's
decisions took 45 % less of Postgres's time and writing their outputs 63 % less
(docs/performance.md). Tracking records are purged after their retention period; decisions are
kept, as the audit trail they are.
"""

from torghut_runtime.db import store_rows_compressed, store_rows_uncompressed

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    store_rows_uncompressed("decisions", "processed_messages")


def downgrade() -> None:
    store_rows_compressed("decisions", "processed_messages")
