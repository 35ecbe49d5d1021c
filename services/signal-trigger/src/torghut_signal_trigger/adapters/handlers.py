"""The Kafka handler: one ``TaSignal`` per call, evaluated inside the runtime's transaction.

The runtime consumes signals in batches: one transaction (which also records the messages as
processed) and one offset commit per fetched batch, the handler called once per record and then
its ``flush`` once, inside the transaction. So the handler buffers: each signal is decided on the
symbol's state in memory (the cache, then this transaction's own earlier signals, so several
signals of one symbol chain), and ``flush`` writes every changed state and the replay watermark in
one conditional statement. A redelivered record never reaches this handler (its stored
outputs are republished); a replayed copy of a signal does, and is refused as a duplicate.

Every decision that commits was made on the committed state:

* a state is written only if its row still carries the token this instance last saw, and a state
  decided from memory without change is re-written the same way to prove it was current; the
  replay watermark only moves if it is still where this transaction assumed it was;
* if any of that does not hold (another instance wrote, or a write of ours rolled back), ``flush``
  raises: the runtime rolls the transaction back, calls ``discard`` (buffer, cache and watermark
  forgotten, so memory is never ahead of the database) and replays the batch carefully, one
  savepoint per record, flushing after each;
* inside such a savepoint the handler works write-through, as for a single record: the state is
  written at once and, if the row changed underneath, read again under lock and the signal decided
  again; the watermark is advanced in the database per signal.

Metrics are counted at flush, once the writes held, so a rolled-back attempt is not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_strategies.engine import EngineConfig, Evaluation, evaluate, stream_of
from torghut_strategies.state import SymbolState

from ..domain.event_time import watermark_after
from . import symbol_state_cache, watermarks
from .metrics import TriggerMetrics


class StaleDecision(RuntimeError):
    """A buffered decision rested on a state or watermark that another writer had changed."""


@dataclass
class _Pending:
    """A symbol's state in the open transaction: what the first decision started from, and now."""

    seen: symbol_state_cache.CachedState
    state: SymbolState


@dataclass
class _Transaction:
    """What the open transaction decided and has not written yet."""

    watermark_base: datetime | None
    """The stored watermark this transaction assumed (None: no row); flush checks it is unchanged."""
    watermark: datetime | None
    states: dict[tuple[str, str], _Pending] = field(default_factory=dict)


class SignalHandler:
    def __init__(self, config: EngineConfig | Callable[[], EngineConfig], metrics: TriggerMetrics, *, replay: bool,
                 watermark_name: str) -> None:
        self._config = config if isinstance(config, EngineConfig) else None
        self._config_source = config
        self.metrics = metrics
        self.replay = replay
        self.watermark_name = watermark_name
        self.states = symbol_state_cache.SymbolStateCache()
        self._watermark: datetime | None = None
        """The stored watermark as last read or written by this instance (replay mode; None: no row)."""
        self._watermark_known = False
        self._open: _Transaction | None = None
        self._observed: list[tuple[Evaluation, datetime]] = []

    @property
    def config(self) -> EngineConfig:
        """The engine config in force: fixed, or read per signal from a source (feature flags)."""
        if self._config is not None:
            return self._config
        assert callable(self._config_source)
        return self._config_source()

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        signal = inbound.payload
        if conn.in_nested_transaction():
            # The runtime's careful pass (a savepoint per record): a failure here costs only this
            # record's attempt, so decide on the locked row now rather than find out at flush.
            await self.flush(conn)
            evaluation = await self._write_through(conn, signal)
        else:
            evaluation = await self._buffered(conn, signal)
        self._observed.append((evaluation, signal.event_ts))
        return [Outgoing(topics.TRIGGERS, trigger, key=trigger.symbol, discriminator=trigger.request_id,
                         correlation_id=trigger.request_id) for trigger in evaluation.triggers]

    async def _buffered(self, conn: AsyncConnection, signal: TaSignal) -> Evaluation:
        if self._open is None:
            base = await self._known_watermark(conn) if self.replay else None
            self._open = _Transaction(watermark_base=base, watermark=base)
        txn = self._open
        if self.replay:
            txn.watermark = reference = watermark_after(txn.watermark, signal.event_ts)
        else:
            reference = datetime.now(UTC)
        key = (signal.symbol, stream_of(signal))
        pending = txn.states.get(key)
        if pending is None:
            seen = await self.states.get(conn, *key, lock=False)  # checked by token at flush
            pending = txn.states[key] = _Pending(seen, seen.state)
        evaluation = evaluate(pending.state, signal, self.config, reference_time=reference)
        pending.state = evaluation.state
        return evaluation

    async def _write_through(self, conn: AsyncConnection, signal: TaSignal) -> Evaluation:
        if self.replay:
            reference = await watermarks.advance_watermark(conn, self.watermark_name, signal.event_ts)
            self._watermark, self._watermark_known = reference, True
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
        return evaluation

    async def _known_watermark(self, conn: AsyncConnection) -> datetime | None:
        if not self._watermark_known:
            self._watermark = await watermarks.read_watermark(conn, self.watermark_name)
            self._watermark_known = True
        return self._watermark

    async def flush(self, conn: AsyncConnection) -> None:
        """Write what the transaction decided, the watermark and all changed states, in one statement.

        One round trip per batch, whatever its size: with batches of one or two signals (a quiet
        stream) the write is most of the handler's time. The statement writes the watermark first, as
        the write-through path does, so two writers take locks in the same order.
        """
        txn, self._open = self._open, None
        if txn is not None:
            watermark = None
            if self.replay and txn.watermark is not None:
                watermark = watermarks.WatermarkMove(self.watermark_name, txn.watermark_base, txn.watermark)
            writes = [(p.seen, p.state) for p in txn.states.values() if p.state != p.seen.state or not p.seen.read_now]
            written = await self.states.put_many(conn, writes, watermark)
            if not written.watermark_moved:
                self.discard()
                raise StaleDecision(f"watermark {self.watermark_name} moved underneath this transaction")
            if written.missed:
                self.discard()
                names = ", ".join(f"{symbol}/{stream or '-'}" for symbol, stream in written.missed)
                raise StaleDecision(f"state of {names} changed underneath this transaction")
            if watermark is not None:
                self._watermark, self._watermark_known = watermark.new, True
        observed, self._observed = self._observed, []
        for evaluation, event_ts in observed:
            self.metrics.observe("kafka", evaluation, event_ts)

    def discard(self) -> None:
        """The transaction (or a record's savepoint) rolled back: forget what was buffered or cached."""
        self._open = None
        self._observed.clear()
        self.states.clear()
        self._watermark, self._watermark_known = None, False
