"""The advancer's start leases the oldest work this worker may take, in one statement, and no more of it.

Reading the whole backlog on every start made a burst quadratic (500 rows read per run started),
and a scan before the lease cost a round trip per start. The statement leases at most the free
slots, passes over the runs in hand, and leaves out in SQL the work another worker holds live, so
that work neither uses up the limit nor is taken from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from torghut_runtime.testing import migrated_engine
from torghut_whitepaper_ingest.adapters import work_store
from torghut_whitepaper_ingest.app import MIGRATIONS

ME, OTHER = "host-a:1", "host-b:2"


async def test_the_oldest_work_free_to_this_worker_is_leased_up_to_its_free_slots(fresh_database_url: str) -> None:
    async with migrated_engine(fresh_database_url, "whitepaper_ingest", MIGRATIONS) as engine:
        now, hour = datetime.now(UTC), timedelta(hours=1)
        work = [  # oldest first: three held live by another worker, one of mine in hand, one of mine from a
            # previous process, one expired, two free
            *[(f"held-{i}", OTHER, now + hour) for i in range(3)], ("in-hand", ME, now + hour),
            ("mine", ME, now + hour), ("expired", OTHER, now - hour), ("free-1", None, None), ("free-2", None, None)]
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO whitepaper_runs (run_id, repository, issue_number, issue_url, issue_title, "
                "attachment_url, pdf_url, marker, status, seq, delivery_id, trigger_source, source_event, created_at, "
                "updated_at) VALUES (:run_id, 'r/r', 1, '', '', '', :run_id, '{}', 'pdf_stored', 2, :run_id, 'test', "
                "'{}', now(), now())"), [{"run_id": run_id} for run_id, _, _ in work])
            await conn.execute(sa.text(
                "INSERT INTO whitepaper_run_work (run_id, step, then_dispatch, cause, lease_owner, lease_until, "
                "created_at) VALUES (:run_id, 'dispatch', false, 'test', :owner, :until, :created)"),
                [{"run_id": run_id, "owner": owner, "until": until, "created": now - hour + timedelta(seconds=i)}
                 for i, (run_id, owner, until) in enumerate(work)])

        first = await work_store.lease_oldest(engine, busy=["in-hand"], free=3, owner=ME, lease_s=60)
        second = await work_store.lease_oldest(engine, busy=["in-hand", "mine", "expired", "free-1"], free=3,
                                               owner=ME, lease_s=60)
        none = await work_store.lease_oldest(engine, busy=[], free=0, owner=ME, lease_s=60)
        async with engine.connect() as conn:
            owners = dict((await conn.execute(sa.text("SELECT run_id, lease_owner FROM whitepaper_run_work"))).all())

    assert sorted(leased.run.run_id for leased in first) == ["expired", "free-1", "mine"]
    assert all(leased.run.status.value == "pdf_stored" and leased.work.step.value == "dispatch" for leased in first)
    assert [leased.run.run_id for leased in second] == ["free-2"], "held live elsewhere: never taken"
    assert none == []
    assert owners == {**{f"held-{i}": OTHER for i in range(3)}, "in-hand": ME, "mine": ME, "expired": ME,
                      "free-1": ME, "free-2": ME}
