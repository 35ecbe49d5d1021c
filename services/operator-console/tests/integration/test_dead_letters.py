"""Dead letters are counted once, however many replicas read them and however often."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from torghut_contracts import headers as h
from torghut_operator_console.adapters import store
from torghut_operator_console.adapters.dead_letters import DeadLetterReader

from .conftest import ConsoleFactory


@dataclass
class DeadRecord:
    offset: int
    reason: str
    topic: str = "torghut.decisions.v1.dlq"
    partition: int = 0
    timestamp: int = 1_770_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.headers = [(h.DLQ_REASON, self.reason.encode()), (h.DLQ_CONSUMER, b"risk-firewall")]


async def test_two_replicas_reading_the_same_dead_letters_count_them_once(console: ConsoleFactory) -> None:
    async with console() as running:
        engine = running.service.runtime.engine
        one, other = (DeadLetterReader(engine, running.bootstrap, []) for _ in range(2))
        first = [DeadRecord(0, "malformed"), DeadRecord(1, "schema")]
        await one.count(first, {("torghut.decisions.v1.dlq", 0): 2})
        await other.count(first, {("torghut.decisions.v1.dlq", 0): 2})  # the same two, read by a second replica
        await other.count([*first, DeadRecord(2, "attempts")], {("torghut.decisions.v1.dlq", 0): 3})
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(store.dead_letters))).one()
            positions = await store.dead_letter_positions(conn)
        assert (row.seen, row.last_reason, row.last_consumer) == (3, "attempts", "risk-firewall")
        assert positions == {("torghut.decisions.v1.dlq", 0): 3}
