"""Decisions and the triggers' tracking records are kept uncompressed up to a page (``toast_tuple_target``).

A decision's payload is 2-3 KB of JSON, and the trigger's tracking record holds it again as the
message's output: both rows are just over the 2 KB at which Postgres starts compressing a row's
values with pglz, and every decision paid for two compressions as it was recorded. With the target
at a page (8160 bytes) a row under 8 KB is written as it is: storing a group's decisions took 45 %
less of Postgres's time and writing their outputs 63 % less (``pg_stat_statements`` over
``bench.decision_client``, docs/performance.md). The cost is about twice the bytes for those rows
on disk and in the WAL (tracking records are purged after their retention period; decisions are
kept, as the audit trail they are).
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("decisions", "processed_messages")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
