"""The Kafka handlers: bars in (one ``TaSignal`` out per bar applied), quotes in (the latest kept).

Both topics are consumed in batches: one transaction per batch, which also claims the batch's
tracking records, the handler called once per record and then its ``flush`` once, inside the
transaction. A batch handler may run more than once for a record (the runtime re-runs a batch that
met an already processed record, or one record at a time in savepoints after a failure), so these
handlers change nothing but the transaction and what ``discard`` forgets before the commit:

* the bar handler loads the batch's series (row-locked, in one statement) when the runtime prepares
  the transaction, and any other the first time the transaction touches it, applies
  that transaction's bars to it in memory and writes every changed series at ``flush`` (its new
  bars logged, or a snapshot: :mod:`.adapters.store`). A state
  in memory is never ahead of the committed one: the states this process committed are kept
  (:mod:`.adapters.committed_states`), but taken out while a transaction has them and put back
  only by its commit, and used only while their row is still at the revision they were committed
  as (a rollback leaves nothing kept; another replica that took the partition over writes newer
  revisions);
* the quote handler keeps the latest quote per symbol of the batch and upserts them at ``flush``.

Counters are registered with ``after_commit``: a pass that rolls back counts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import MarketBar, MarketQuote
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.commit_hooks import after_commit

from .adapters import store
from .adapters.committed_states import CommittedStates, SeriesKey
from .domain.quotes import newer
from .domain.series import Rules, SeriesState, Skip, admit, apply, replay, screen
from .metrics import TaMetrics

log = structlog.get_logger("torghut.ta")


@dataclass
class _Open:
    """A series the open transaction has loaded: its state (changing), the quote, its row as loaded
    (revision, snapshot, whether its stored state was dropped), the bars the transaction applied."""

    state: SeriesState
    quote: MarketQuote | None
    revision: int
    snapshot_seq: int | None
    reset: bool
    applied: list[MarketBar] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """The row must be written: bars were applied, or a dropped state is replaced."""
        return self.reset or bool(self.applied)


class BarHandler:
    """``torghut.market.bars.v1`` -> ``torghut.ta.signals.v1``, the series' state in the same transaction."""

    def __init__(self, rules: Rules, metrics: TaMetrics, committed: CommittedStates | None = None) -> None:
        self.rules = rules
        self.metrics = metrics
        self.committed = committed if committed is not None else CommittedStates(0)
        self._open: dict[SeriesKey, _Open] = {}

    async def __call__(self, inbound: Inbound[MarketBar], conn: AsyncConnection) -> list[Outgoing]:
        bar = inbound.payload
        skip = admit(bar, self.rules)
        if skip is not None:
            return self._skipped(bar, skip)
        series = await self._series(conn, bar.symbol, bar.window)
        skip = screen(series.state, bar)
        if skip is not None:
            return self._skipped(bar, skip)
        signal = apply(series.state, bar, series.quote, self.rules)
        series.applied.append(bar)
        after_commit(self.metrics.bars_applied.inc)
        return [Outgoing(topics.TA_SIGNALS, signal, key=signal.symbol)]

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[MarketBar]]) -> None:
        """Load every series the batch's bars will touch in one statement (the runtime calls this first)."""
        keys = {(i.payload.symbol, i.payload.window) for i in inbounds if admit(i.payload, self.rules) is None}
        keys -= self._open.keys()
        held = self.committed.check_out(keys)
        for key, loaded in (await store.load_many(conn, list(keys), held)).items():
            self._opened(key, loaded)

    async def _series(self, conn: AsyncConnection, symbol: str, window: str) -> _Open:
        key = (symbol, window)
        series = self._open.get(key)
        if series is None:
            held = self.committed.check_out([key]).get(key)
            series = self._opened(key, await store.load_series(conn, symbol, window, held))
        return series

    def _opened(self, key: SeriesKey, loaded: store.Loaded) -> _Open:
        symbol, window = key
        if loaded.reset:
            log.warning("stored series state dropped; warming up again", symbol=symbol, window=window)
            after_commit(self.metrics.state_resets.inc)
        after_commit(self.metrics.series_loads.labels(source=loaded.source).inc)
        replay(loaded.state, loaded.logged, self.rules)
        series = self._open[key] = _Open(loaded.state, loaded.quote, loaded.revision, loaded.snapshot_seq,
                                         loaded.reset)
        return series

    def _skipped(self, bar: MarketBar, skip: Skip) -> list[Outgoing]:
        log.info("bar skipped", symbol=bar.symbol, start=bar.start.isoformat(), window=bar.window,
                 origin=bar.origin.value, reason=skip.value)
        after_commit(self.metrics.bars_skipped.labels(reason=skip.value).inc)
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        """Write every series this transaction changed, before its bars are claimed; once it commits, keep
        every series it loaded at the revision its row then has."""
        series, self._open = self._open, {}
        await store.save_series(conn, [store.SeriesWrite(s.state, s.revision + 1, s.snapshot_seq, s.applied)
                                        for s in series.values() if s.changed])
        kept = [(key, s.revision + 1 if s.changed else s.revision, s.state)
                for key, s in series.items() if s.changed or s.revision]
        after_commit(lambda: self.committed.put_back(kept))

    def discard(self) -> None:
        """The transaction (or a record's savepoint) rolled back: forget the series it loaded."""
        self._open = {}


class QuoteHandler:
    """``torghut.market.quotes.v1``: keep each symbol's latest quote for the signals of its next bars."""

    def __init__(self, metrics: TaMetrics) -> None:
        self.metrics = metrics
        self._latest: dict[str, MarketQuote] = {}

    async def __call__(self, inbound: Inbound[MarketQuote], conn: AsyncConnection) -> list[Outgoing]:
        quote = inbound.payload
        if newer(self._latest.get(quote.symbol), quote):
            self._latest[quote.symbol] = quote
        after_commit(self.metrics.quotes.inc)
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        latest, self._latest = self._latest, {}
        await store.put_quotes(conn, list(latest.values()))

    def discard(self) -> None:
        self._latest = {}
