"""Runs and their events are kept uncompressed up to a page (``toast_tuple_target = 8160``).

A run's row (its request and its final) and its larger events (``context_ready``, ``decision.final``)
are 2-3 KB of JSON, just over the 2 KB at which Postgres starts compressing a row's values with pglz.
Every run paid for that compression as it was written. With the target at a page, a row under
8 KB is written as it is: the insert of a batch's runs and events took 25-30 % less of Postgres's
time (``pg_stat_statements`` over ``bench.decision_client``, docs/performance.md). The cost is
about twice the bytes for those rows on disk and in the WAL; finished runs are purged after the
retention period. lz4 would keep most of both, but not every Postgres is built with it.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("runs", "run_events")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")
