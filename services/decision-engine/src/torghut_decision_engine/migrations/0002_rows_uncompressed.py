"""Runs and their events are written uncompressed up to a page (``toast_tuple_target = 8160``).

A run's row (its request and its final) and its larger events (``context_ready``, ``decision.final``)
are 2-3 KB of JSON, just past the 2 KB at which Postgres compresses them. Uncompressed, inserting a
batch's runs and events took 25-30 % less of Postgres's time (docs/performance.md). Finished runs
are purged after the retention period.
"""

from torghut_runtime.db import store_rows_compressed, store_rows_uncompressed

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    store_rows_uncompressed("runs", "run_events")


def downgrade() -> None:
    store_rows_compressed("runs", "run_events")
