"""Deferred outputs on a real broker and Postgres: a worker's outputs land in each message's own tracking record.

The handler claims the work and returns nothing; later a worker records what came of it for several
messages at once, as the decision-client's recorder does for a group of decisions.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.testing import produce

from .conftest import make_runtime, signal, trigger_for, wait_for


async def test_a_groups_outputs_are_recorded_each_in_its_own_messages_tracking_record(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    claimed: dict[int, MessageHeaders] = {}

    async def claim(inbound: Inbound[TaSignal], _conn: AsyncConnection) -> list[Outgoing]:
        claimed[inbound.payload.seq] = inbound.headers
        return []

    runtime.consume(topics.TA_SIGNALS, claim)
    outputs = runtime.deferred_outputs(topics.TA_SIGNALS)
    async with runtime.running():
        for seq in (1, 2, 3):
            await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(seq), key="AAPL")
        await wait_for(lambda: len(claimed) == 3, "three messages claimed")
        done = {seq: [outputs.render(claimed[seq], Outgoing(topics.TRIGGERS, trigger_for(signal(seq))), index)
                      for index in range(seq)] for seq in (1, 2)}
        async with runtime.engine.begin() as conn:
            await outputs.record(conn, [(claimed[seq].message_id, done[seq]) for seq in (2, 1)])
        async with runtime.engine.connect() as conn:
            stored = dict((await conn.execute(
                sa.text("SELECT message_id, outputs FROM processed_messages WHERE consumer = :consumer"),
                {"consumer": outputs.tracking_key})).all())
    assert {seq: json.loads(stored[claimed[seq].message_id]) for seq in (1, 2, 3)} == {
        1: [output.as_json() for output in done[1]], 2: [output.as_json() for output in done[2]], 3: []}
