"""The ClickHouse path: poll ``ta_signals`` after a durable cursor, evaluate, publish through an outbox.

One poll is one Postgres transaction: lock the cursor row, read the next batch from ClickHouse,
evaluate every row with the same core as the Kafka path, then write the symbols' states, the new
cursor and the batch's triggers (into ``trigger_outbox``) and commit. Only then are the outbox
entries published and deleted (the runtime's outbox, ``store.TRIGGERS_OUTBOX``). So:

* a crash before the commit re-reads the same batch from the old cursor with the old state: no gap,
  and nothing was published yet;
* a crash after the commit leaves the triggers in the outbox, published at the next start: no gap;
* a crash between publishing and deleting republishes the same message ids and request ids, which
  downstream idempotency ignores (the only way a trigger is ever sent twice);
* a second instance polling the same table waits on the cursor row lock instead of double-reading.

Reading the table (the batch query, rows -> signals, the reader) is shared with the research lane
in :mod:`torghut_strategies.clickhouse`; what stays here is the poll loop, the cursor and the outbox.
clickhouse-driver is synchronous; each query runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.headers import derived_message_id
from torghut_contracts.models import StrategyTrigger
from torghut_runtime.outbox import Outbox
from torghut_strategies.clickhouse.reader import ClickHouseReader, ClickHouseSettings
from torghut_strategies.clickhouse.rows import RowKey, parse_timestamp, row_to_signal
from torghut_strategies.engine import EngineConfig, Evaluation, evaluate, stream_of
from torghut_strategies.state import SymbolState

from ..domain.event_time import watermark_after
from . import cursors, store, symbol_states
from .metrics import TriggerMetrics

log = structlog.get_logger("torghut.signal_trigger.clickhouse")


class ClickHouseSource:
    def __init__(self, settings: ClickHouseSettings, engine: AsyncEngine,
                 config: EngineConfig | Callable[[], EngineConfig],
                 metrics: TriggerMetrics, outbox: Outbox, *, replay: bool, start_at: datetime,
                 poll_interval_s: float = 5.0) -> None:
        self.settings = settings
        self.poll_interval_s = poll_interval_s
        self.engine = engine
        self._config = config if isinstance(config, EngineConfig) else None
        self._config_source = config
        self.metrics = metrics
        self.outbox = outbox
        """``store.TRIGGERS_OUTBOX``, flushed by this loop after each commit (it runs no relay of its own)."""
        self.replay = replay
        self.start_at = start_at
        self.reader = ClickHouseReader(settings)
        self.cursor_name = f"clickhouse:{self.reader.database}.{settings.table}"
        self._described = False

    @property
    def config(self) -> EngineConfig:
        """The engine config in force: fixed, or read per signal from a source (feature flags)."""
        if self._config is not None:
            return self._config
        assert callable(self._config_source)
        return self._config_source()

    async def run_forever(self) -> None:
        """The background loop: flush what a previous run left in the outbox, then poll."""
        try:
            await self.outbox.flush()
            while True:
                read = await self.poll_once()
                if read < self.settings.batch_size:  # caught up: wait; a full batch means more is waiting
                    await asyncio.sleep(self.poll_interval_s)
        finally:
            with contextlib.suppress(Exception):
                self.reader.close()  # also unblocks a query still running in its worker thread

    async def poll_once(self) -> int:
        """Read, evaluate and commit one batch, then publish its triggers; returns the rows read."""
        evaluations: list[tuple[Evaluation, datetime]] = []
        invalid = 0
        async with self.engine.begin() as conn:
            cursor = await cursors.load_cursor(conn, self.cursor_name)
            if cursor is None:
                cursor = await cursors.lock_new_cursor(conn, self.cursor_name, cursors.Cursor(event_ts=self.start_at))
            rows = await asyncio.to_thread(self.reader.fetch, RowKey(cursor.event_ts, cursor.symbol, cursor.seq),
                                           self.settings.batch_size)
            self._describe_table()
            if not rows:
                self.metrics.last_poll.set(time.time())
                return 0
            states: dict[tuple[str, str], SymbolState] = {}
            changed: set[tuple[str, str]] = set()
            outbox: list[tuple[str, StrategyTrigger]] = []
            watermark = cursor.watermark
            now = datetime.now(UTC)
            for row in rows:
                try:
                    signal = row_to_signal(row)
                except (ValidationError, ValueError) as exc:
                    invalid += 1
                    log.warning("clickhouse row skipped", symbol=row.get("symbol"), seq=row.get("seq"),
                                event_ts=row.get("event_ts_text"), error=str(exc)[:300])
                    continue
                if self.replay:
                    watermark = watermark_after(watermark, signal.event_ts)
                key = (signal.symbol, stream_of(signal))
                if key not in states:
                    states[key] = await symbol_states.load_state(conn, *key)
                evaluation = evaluate(states[key], signal, self.config,
                                      reference_time=watermark if self.replay and watermark else now)
                if evaluation.state != states[key]:
                    states[key] = evaluation.state
                    changed.add(key)
                evaluations.append((evaluation, signal.event_ts))
                outbox += [(self.message_id(t), t) for t in evaluation.triggers]
            last = rows[-1]
            last_ts = parse_timestamp(str(last["event_ts_text"])) or cursor.event_ts
            await symbol_states.save_states(conn, [states[k] for k in sorted(changed)])
            await cursors.save_cursor(conn, self.cursor_name, cursors.Cursor(
                event_ts=last_ts, symbol=str(last["symbol"]), seq=int(last["seq"]), watermark=watermark))
            await store.add_to_outbox(conn, outbox)
        self.metrics.last_poll.set(time.time())
        self.metrics.cursor_event_time.set(last_ts.timestamp())
        for evaluation, event_ts in evaluations:
            self.metrics.observe("clickhouse", evaluation, event_ts)
        if invalid:
            self.metrics.invalid_rows.inc(invalid)
        await self.outbox.flush()
        return len(rows)

    def _describe_table(self) -> None:
        """Log once which table and which price column the reader settled on (it looks them up lazily)."""
        if self._described:
            return
        self._described = True
        query = self.reader.query()  # cached by the fetch that just ran
        log.info("clickhouse signal table", table=self.settings.table, columns=len(query.columns),
                 price_from=query.price_table if query.joins_microbars else "signal table")

    def message_id(self, trigger: StrategyTrigger) -> str:
        return derived_message_id(self.cursor_name, trigger.request_id)
