"""The Kafka path: one ``TaSignal`` per record, evaluated inside the runtime's transaction.

The runtime opens the transaction that also records the message as processed; the symbol's state
is written on the same connection and the triggers are returned for the runtime to publish after
commit. A redelivered record never reaches this handler (its stored outputs are republished); a
replayed copy of a signal does, and is refused as a duplicate.

The state is read through :class:`SymbolStateCache` and written conditionally: when the row
changed underneath (another instance, or a rolled-back write of ours), or when a decision that
changes nothing was made from memory, the row is read again under lock and the signal evaluated
again, so every decision that commits was made on the committed state.
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
        self.states = store.SymbolStateCache()

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        signal = inbound.payload
        if self.replay:
            reference = await store.advance_watermark(conn, self.watermark_name, signal.event_ts)
        else:
            reference = datetime.now(UTC)
        symbol, stream = signal.symbol, stream_of(signal)
        seen = await self.states.get(conn, symbol, stream)
        evaluation = evaluate(seen.state, signal, self.config, reference_time=reference)
        if not await self.states.settle(conn, seen, evaluation.state):
            seen = await self.states.get(conn, symbol, stream, fresh=True)  # now row-locked: settling cannot fail
            evaluation = evaluate(seen.state, signal, self.config, reference_time=reference)
            if not await self.states.settle(conn, seen, evaluation.state):
                raise RuntimeError(f"state of {symbol}/{stream or '-'} changed under its row lock")
        self.metrics.observe("kafka", evaluation, signal.event_ts)
        return [Outgoing(topics.TRIGGERS, trigger, key=trigger.symbol, discriminator=trigger.request_id,
                         correlation_id=trigger.request_id) for trigger in evaluation.triggers]
