"""The shared runtime's floor for a per-record consumer: a handler that does nothing.

bench/signal_trigger.py measures the runtime floor of a *batched* consumer (TA signals). Decisions,
approved orders, trade updates and control commands are consumed one record at a time, each in its
own Postgres transaction (processed-message check and record) with an offset commit after it. This
measures that path with a no-op handler, on the same pre-produced signals, so the per-record
services' own figures can be split into "the runtime" and "the service's work".
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from torghut_contracts import topics
from torghut_embedded.kafka import create_test_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database

from .signal_trigger import measure_runtime_floor, produce_all, signal_payloads


async def _bench(bootstrap: str, admin_url: str, records: int) -> dict[str, Any]:
    prefix = f"benchfloor{uuid.uuid4().hex[:6]}."
    names = [prefix + topics.TA_SIGNALS.name, prefix + topics.TA_SIGNALS.name + ".dlq"]
    await create_test_topics(bootstrap, names)
    database = f"bench_floor_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, database)
    try:
        await produce_all(bootstrap, names[0], signal_payloads(records))
        per_s = await measure_runtime_floor(bootstrap, database_url, prefix, records, batched=False)
    finally:
        try:
            await delete_topics(bootstrap, names)
        finally:
            await drop_database(admin_url, database)
    return {"records": records, "per_record_floor_per_s": round(per_s, 1)}


def run(bootstrap: str, admin_url: str, *, records: int = 400) -> dict[str, Any]:
    return asyncio.run(_bench(bootstrap, admin_url, records))
