"""signal-trigger's tables, one SQLModel class each (the statements over them are in :mod:`.store` and its siblings).

The migrations keep their own copy of each table as it was when they ran; the integration test
``test_tables`` migrates a fresh schema and diffs it against these classes, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class SignalTriggerTable(SQLModel, registry=registry()):
    """Base of signal-trigger's tables: a metadata of their own."""


class SymbolStateRow(SignalTriggerTable, table=True):
    """Each symbol's strategy memory per stream, with the token a cache checks its copy against."""

    __tablename__ = "symbol_state"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    stream: str = Field(primary_key=True, sa_type=sa.Text,
                        sa_column_kwargs={"comment": "bar window of the signals ('' when none)"})
    state: dict[str, Any] = Field(sa_type=JSONB)
    token: str = Field(sa_type=sa.Text,
                       sa_column_kwargs={"comment": "changes on every write: optimistic check for caches"})
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class StreamWatermark(SignalTriggerTable, table=True):
    """The replay watermark per stream: the greatest event time seen, replay's stand-in for 'now'."""

    __tablename__ = "stream_watermark"

    name: str = Field(primary_key=True, sa_type=sa.Text)
    watermark: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class SourceCursor(SignalTriggerTable, table=True):
    """The ClickHouse source's position over (event_ts, symbol, seq): the next row is strictly after it."""

    __tablename__ = "source_cursor"

    name: str = Field(primary_key=True, sa_type=sa.Text)
    event_ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    symbol: str = Field(sa_type=sa.Text)
    seq: int = Field(sa_type=sa.BigInteger)
    watermark: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class TriggerOutboxEntry(SignalTriggerTable, table=True):
    """Triggers decided but not yet published (ClickHouse path), in order of ``id``."""

    __tablename__ = "trigger_outbox"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    message_id: str = Field(sa_type=sa.Text, unique=True)
    request_id: str = Field(sa_type=sa.Text)
    payload: str = Field(sa_type=sa.Text)
    """The trigger as JSON."""
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
