"""The Kafka path: one ``TaSignal`` per record, evaluated inside the runtime's transaction.

The runtime opens the transaction that also records the message as processed; the symbol's state is
read with a row lock and written back on the same connection, and the triggers are returned for the
runtime to publish after commit. A redelivered record never reaches this handler (its stored
outputs are republished); a replayed copy of a signal does, and is refused as a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing

from ..domain.engine import EngineConfig, evaluate, stream_of
from . import store
from .metrics import TriggerMetrics


class SignalHandler:
    def __init__(self, config: EngineConfig, metrics: TriggerMetrics, *, replay: bool, watermark_name: str) -> None:
        self.config = config
        self.metrics = metrics
        self.replay = replay
        self.watermark_name = watermark_name

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        signal = inbound.payload
        if self.replay:
            reference = await store.advance_watermark(conn, self.watermark_name, signal.event_ts)
        else:
            reference = datetime.now(UTC)
        state = await store.load_state(conn, signal.symbol, stream_of(signal))
        evaluation = evaluate(state, signal, self.config, reference_time=reference)
        if evaluation.state != state:
            await store.save_states(conn, [evaluation.state])
        self.metrics.observe("kafka", evaluation, signal.event_ts)
        return [Outgoing(topics.TRIGGERS, trigger, key=trigger.symbol, discriminator=trigger.request_id,
                         correlation_id=trigger.request_id) for trigger in evaluation.triggers]
