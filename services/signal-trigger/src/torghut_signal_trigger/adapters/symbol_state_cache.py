"""The Kafka handler's in-memory cache of symbol states, written back with conditional, token-checked writes.

Kept apart from the plain row access (:mod:`.symbol_states`) because it carries its own batched
statement (many states, and the replay watermark, in one round trip) and its own consistency rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_strategies.state import SymbolState

from .store import symbol_state
from .symbol_states import new_token, select_state
from .watermarks import WatermarkMove

#: Conditional writes of many states in one round trip: update a row only if it still carries the
#: expected token; insert a row only if none exists (expected token NULL). Returns the rows written.
#: Input sorted by key, so two writers lock rows in the same order.
_STATES_CTES = """
input AS (
    SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:streams AS text[]), CAST(:states AS text[]),
                         CAST(:tokens AS text[]), CAST(:expected AS text[]))
        AS i(symbol, stream, state, token, expected)
), updated AS (
    UPDATE symbol_state AS s SET state = CAST(i.state AS jsonb), token = i.token, updated_at = :now
    FROM input AS i
    WHERE i.expected IS NOT NULL AND s.symbol = i.symbol AND s.stream = i.stream AND s.token = i.expected
    RETURNING s.symbol, s.stream
), inserted AS (
    INSERT INTO symbol_state (symbol, stream, state, token, updated_at)
    SELECT symbol, stream, CAST(state AS jsonb), token, :now FROM input WHERE expected IS NULL
    ORDER BY symbol, stream
    ON CONFLICT (symbol, stream) DO NOTHING
    RETURNING symbol, stream
)"""
_STATES_WRITTEN = "SELECT 's' AS kind, symbol, stream FROM updated UNION ALL SELECT 's', symbol, stream FROM inserted"
_PUT_MANY = sa.text(f"WITH {_STATES_CTES}\n{_STATES_WRITTEN}").bindparams(
    sa.bindparam("now", type_=sa.DateTime(timezone=True)))

#: The same, plus the replay watermark moved from ``wm_expected`` (NULL: no row yet) to ``wm_new`` if it
#: is still there: a batch's whole write in one round trip. A row of kind 'w' says the watermark moved.
#: The watermark comes first in the result, so it is written (locked) before the states, as on the
#: write-through path: two writers take locks in the same order.
_PUT_MANY_AND_WATERMARK = sa.text(f"""
WITH watermark_updated AS (
    UPDATE stream_watermark SET watermark = :wm_new, updated_at = :now
    WHERE CAST(:wm_expected AS timestamptz) IS NOT NULL AND name = :wm_name AND watermark = :wm_expected
    RETURNING name
), watermark_inserted AS (
    INSERT INTO stream_watermark (name, watermark, updated_at)
    SELECT :wm_name, :wm_new, :now WHERE CAST(:wm_expected AS timestamptz) IS NULL
    ON CONFLICT (name) DO NOTHING
    RETURNING name
), {_STATES_CTES}
SELECT 'w' AS kind, NULL AS symbol, NULL AS stream FROM watermark_updated
UNION ALL SELECT 'w', NULL, NULL FROM watermark_inserted
UNION ALL {_STATES_WRITTEN}
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("wm_new", type_=sa.DateTime(timezone=True)),
                sa.bindparam("wm_expected", type_=sa.DateTime(timezone=True)))


class Written(NamedTuple):
    watermark_moved: bool
    """True when the watermark moved as asked (or none was asked to move)."""
    missed: list[tuple[str, str]]
    """Keys whose row was not as seen: not written."""

    @property
    def complete(self) -> bool:
        return self.watermark_moved and not self.missed


@dataclass(frozen=True)
class CachedState:
    state: SymbolState
    token: str | None
    """The row's token when this state was read or written; None: no row existed."""
    read_now: bool = False
    """Read from Postgres (under lock) in the current transaction, not taken from memory."""


class SymbolStateCache:
    """Cache of symbol states, checked optimistically against the row's token.

    Reading the state back from Postgres for every signal costs a round trip that the owner of a
    partition almost never needs. So the state is kept in memory and every write is conditional: it
    succeeds only if the row still carries the token this instance last saw. Every write sets a
    fresh random token, so a write by another instance (after a rebalance) or a write of ours whose
    transaction rolled back both make the check fail, and the caller then decides again on the row
    as committed. Random tokens, not counters, so a rolled-back write can never be mistaken for a
    committed one (no ABA). The owner calls :meth:`clear` when a transaction rolls back, so the
    cache is never ahead of the database for longer than a failed transaction.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], CachedState] = {}

    async def get(self, conn: AsyncConnection, symbol: str, stream: str, *, fresh: bool = False,
                  lock: bool = True) -> CachedState:
        """From memory, else read from Postgres (row-locked unless ``lock`` is False)."""
        key = (symbol, stream)
        if not fresh and key in self._entries:
            return self._entries[key]
        state, token = await select_state(conn, symbol, stream, lock=lock)
        self._remember(key, CachedState(state, token))
        return CachedState(state, token, read_now=True)

    def clear(self) -> None:
        """Forget everything: the transaction that wrote some of these entries rolled back."""
        self._entries.clear()

    async def settle(self, conn: AsyncConnection, seen: CachedState, state: SymbolState) -> bool:
        """Make ``state`` (decided from ``seen``) the committed-to-be state; False when ``seen`` was stale.

        An unchanged state from memory is not proof either: a duplicate judged on a cached write whose
        transaction rolled back would swallow the retry of that very signal. So it counts only when
        ``seen`` was read from Postgres in this transaction.
        """
        if state == seen.state:
            return seen.read_now
        return await self.put(conn, seen, state)

    async def put(self, conn: AsyncConnection, seen: CachedState, state: SymbolState) -> bool:
        """Write ``state`` if the row is still as ``seen``; False (nothing written) otherwise."""
        token = new_token()
        values = {"symbol": state.symbol, "stream": state.stream, "state": state.to_json(), "token": token,
                  "updated_at": datetime.now(UTC)}
        insert = postgresql.insert(symbol_state).values(**values)
        if seen.token is None:
            statement = insert.on_conflict_do_nothing(index_elements=[symbol_state.c.symbol, symbol_state.c.stream])
        else:
            statement = insert.on_conflict_do_update(
                index_elements=[symbol_state.c.symbol, symbol_state.c.stream],
                set_={"state": insert.excluded.state, "token": insert.excluded.token,
                      "updated_at": insert.excluded.updated_at},
                where=symbol_state.c.token == seen.token,
            )
        written = (await conn.execute(statement.returning(symbol_state.c.token))).first() is not None
        key = (state.symbol, state.stream)
        if written:
            self._remember(key, CachedState(state, token))
        else:
            self._entries.pop(key, None)
        return written

    async def put_many(self, conn: AsyncConnection, writes: Sequence[tuple[CachedState, SymbolState]],
                       watermark: WatermarkMove | None = None) -> Written:
        """Write each ``state`` if its row is still as ``seen`` (and move ``watermark``), in one statement.

        When anything was not written, the caller must abort the transaction (the rest was written on
        a premise that is now in doubt); nothing is remembered then.
        """
        if not writes and watermark is None:
            return Written(True, [])
        planned = sorted(((state, new_token(), seen.token) for seen, state in writes),
                         key=lambda item: (item[0].symbol, item[0].stream))
        parameters: dict[str, object] = {
            "symbols": [state.symbol for state, _, _ in planned],
            "streams": [state.stream for state, _, _ in planned],
            "states": [json.dumps(state.to_json()) for state, _, _ in planned],
            "tokens": [token for _, token, _ in planned],
            "expected": [expected for _, _, expected in planned],
            "now": datetime.now(UTC)}
        if watermark is not None:
            parameters.update(wm_name=watermark.name, wm_expected=watermark.expected, wm_new=watermark.new)
        result = await conn.execute(_PUT_MANY if watermark is None else _PUT_MANY_AND_WATERMARK, parameters)
        written: set[tuple[str, str]] = set()
        moved = watermark is None
        for row in result:
            if row.kind == "w":
                moved = True
            else:
                written.add((row.symbol, row.stream))
        missed = [(state.symbol, state.stream) for state, _, _ in planned
                  if (state.symbol, state.stream) not in written]
        outcome = Written(moved, missed)
        if outcome.complete:
            for state, token, _ in planned:
                self._remember((state.symbol, state.stream), CachedState(state, token))
        return outcome

    def _remember(self, key: tuple[str, str], entry: CachedState) -> None:
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))  # the oldest entry; a miss only costs a read
        self._entries[key] = entry
