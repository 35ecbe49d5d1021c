"""The advancer's scan reads only the work this worker may lease, oldest first, and no more of it.

Reading the whole backlog on every start made a burst quadratic (500 rows read per run started),
so the scan asks for what it can start plus what it holds. Work another worker holds must then
not use up that limit: the scan leaves it out in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from torghut_runtime.testing import migrated_engine
from torghut_whitepaper_ingest.adapters import work_store
from torghut_whitepaper_ingest.app import MIGRATIONS
from torghut_whitepaper_ingest.domain.work import startable

ME, OTHER = "host-a:1", "host-b:2"


async def test_work_held_elsewhere_does_not_use_up_the_scan(fresh_database_url: str) -> None:
    async with migrated_engine(fresh_database_url, "whitepaper_ingest", MIGRATIONS) as engine:
        now, hour = datetime.now(UTC), timedelta(hours=1)
        work = [  # oldest first: three held live by another worker, then one of mine, one expired, two free
            *[(f"held-{i}", OTHER, now + hour) for i in range(3)],
            ("mine", ME, now + hour), ("expired", OTHER, now - hour), ("free-1", None, None), ("free-2", None, None)]
        async with engine.begin() as conn:
            await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # no runs behind the rows
            await conn.execute(sa.text(
                "INSERT INTO whitepaper_run_work (run_id, step, then_dispatch, cause, lease_owner, lease_until, "
                "created_at) VALUES (:run_id, 'dispatch', false, 'test', :owner, :until, :created)"),
                [{"run_id": run_id, "owner": owner, "until": until, "created": now - hour + timedelta(seconds=i)}
                 for i, (run_id, owner, until) in enumerate(work)])

        heads = await work_store.heads(engine, owner=ME, limit=3)  # one in hand, two free slots

        assert [h.run_id for h in heads] == ["mine", "expired", "free-1"]
        assert startable(heads, busy={"mine"}, free=2, owner=ME) == ["expired", "free-1"]
