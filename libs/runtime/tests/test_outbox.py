"""The transactional outbox against the real Tansu broker and a real Postgres.

Rows committed are published in their order and marked once acknowledged; a failed round leaves
them pending and the next one sends the very same messages; a stop publishes what was committed
last; two relays over one table (two replicas) publish each row once, in order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import StrategyTrigger
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_runtime import ServiceRuntime, ServiceSettings
from torghut_runtime.db import StoredOutput
from torghut_runtime.outbox import Outbox, OutboxMessage, OutboxTable
from torghut_runtime.testing import eventually, read_records, test_settings

MIGRATIONS = Path(__file__).parent / "migrations"
T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)
ROWS = sa.Table("outbox_rows", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                sa.Column("symbol", sa.Text), sa.Column("seq", sa.Integer),
                sa.Column("published_at", sa.DateTime(timezone=True)))
STAMPED = OutboxTable("test-rows", ROWS, ROWS.c.id, (ROWS.c.id,), ROWS.c.published_at.is_(None), ROWS.c.published_at)
DELETED = OutboxTable("test-rows", ROWS, ROWS.c.id, (ROWS.c.id,), sa.true())


def render(row: sa.Row[Any]) -> OutboxMessage:
    trigger = StrategyTrigger(request_id=f"req-{row.symbol}-{row.seq}", strategy_id="test", symbol=row.symbol,
                              direction=Side.BUY, trigger_type="test", event_ts=T0, signal_seq=row.seq,
                              price=Decimal(100), triggered_at=T0)
    headers = MessageHeaders.new(topics.TRIGGERS.name, message_id=derived_message_id("outbox-test", str(row.id)),
                                 correlation_id=trigger.request_id)
    return OutboxMessage.of(topics.TRIGGERS, trigger, headers)


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_test_topics(kafka_bootstrap, [topic_namespace + topics.TRIGGERS.name])
    return topic_namespace


def make_runtime(kafka_bootstrap: str, database_url: str, prefix: str) -> ServiceRuntime:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="outbox-test")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)
    runtime.produces(topics.TRIGGERS)
    return runtime


async def commit_rows(runtime: ServiceRuntime, rows: list[tuple[str, int]]) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(ROWS.insert(), [{"symbol": symbol, "seq": seq} for symbol, seq in rows])


async def pending(runtime: ServiceRuntime) -> int:
    async with runtime.engine.connect() as conn:
        return int((await conn.execute(
            sa.select(sa.func.count()).select_from(ROWS).where(ROWS.c.published_at.is_(None)))).scalar_one())


def published_total(runtime: ServiceRuntime) -> float:
    return runtime.registry.get_sample_value("torghut_outbox_published_total", {"outbox": "test-rows"}) or 0.0


async def test_committed_rows_are_published_in_order_when_woken_and_stamped(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    outbox = runtime.outbox(STAMPED, render, poll_s=60.0, batch=7)  # the poll never comes: only the wake
    async with runtime.running():
        for symbol in ("AAPL", "MSFT", "AAPL"):
            await commit_rows(runtime, [(symbol, seq) for seq in range(10)])
            outbox.wake()
        records = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=30, settle=0.3)

        async def all_stamped() -> bool:
            return await pending(runtime) == 0

        await eventually(all_stamped, what="the published rows stamped")
    assert len(records) == 30, "each row once"
    assert [r.headers[h.MESSAGE_ID] for r in records] == [
        derived_message_id("outbox-test", str(i)) for i in range(1, 31)], "in id order, with the rows' ids"
    assert records[0].key == "AAPL" and records[10].key == "MSFT"
    assert published_total(runtime) == 30


async def test_a_round_that_fails_after_sending_sends_the_same_messages_again(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    outbox = runtime.outbox(STAMPED, render, poll_s=None)
    real_confirm = runtime.kafka.publishers.confirm
    confirms = 0

    async def confirm_then_fail_once(sent: list[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        nonlocal confirms
        confirms += 1
        await real_confirm(sent)
        if confirms == 1:
            raise ConnectionError("lost the connection after the acknowledgements, before the mark")

    monkeypatch.setattr(runtime.kafka.publishers, "confirm", confirm_then_fail_once)
    async with runtime.running():
        await commit_rows(runtime, [("AAPL", 1), ("AAPL", 2)])
        assert await outbox.flush_quietly() == 0
        assert await pending(runtime) == 2, "not marked: the round failed"
        assert runtime.registry.get_sample_value("torghut_outbox_failures_total", {"outbox": "test-rows"}) == 1
        assert await outbox.flush() == 2
        assert await pending(runtime) == 0
    records = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=4, settle=0.3)
    ids = [r.headers[h.MESSAGE_ID] for r in records]
    assert ids[:2] == ids[2:] and len(set(ids)) == 2, "at least once: the same two messages, which consumers dedupe"


async def test_a_stop_publishes_what_was_committed_after_the_last_round(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    runtime.outbox(DELETED, render, poll_s=60.0)
    async with runtime.running():
        await commit_rows(runtime, [("AAPL", seq) for seq in range(5)])  # no wake, and no poll before the stop
    records = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=5, settle=0.3)
    assert [r.model(topics.TRIGGERS).signal_seq for r in records] == [0, 1, 2, 3, 4]
    check = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    async with check.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(ROWS))).scalar_one() == 0, "deleted"
    await check.engine.dispose()


class Sent:
    """Sends that remember what was sent, in order, acknowledged at once (the order is the point)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def send(self, output: StoredOutput) -> asyncio.Future[Any]:
        self.ids.append(output.headers[h.MESSAGE_ID])
        await asyncio.sleep(0)  # let the other relay run between sends
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def confirm(self, sent: list[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        for _, future in sent:
            await future


async def test_two_relays_over_one_table_publish_each_row_once_and_in_order(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    await runtime.start()
    try:
        sent = Sent()
        # Two relays as two replicas have them: each its own lock and connections, one table.
        relays = [Outbox(runtime.engine, STAMPED, render, sent, runtime.metrics, batch=40) for _ in range(2)]
        total = 400

        async def write() -> None:
            for start in range(0, total, 20):
                await commit_rows(runtime, [("AAPL", seq) for seq in range(start, start + 20)])
                await asyncio.sleep(0)

        async def relay(outbox: Outbox) -> None:
            while len(sent.ids) < total:
                await outbox.flush()
                await asyncio.sleep(0)

        async with asyncio.timeout(60):
            await asyncio.gather(write(), *(relay(outbox) for outbox in relays))
    finally:
        await runtime.stop()
    assert sent.ids == [derived_message_id("outbox-test", str(i)) for i in range(1, total + 1)], \
        "every row once, none overtaking an earlier one"
