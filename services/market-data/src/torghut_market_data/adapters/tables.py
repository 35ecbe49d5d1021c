"""market-data's tables, one SQLModel class each (the statements over them are in :mod:`.store`).

The migrations keep their own copy of each table as it was when they ran; the integration test
``test_tables`` migrates a fresh schema and diffs it against these classes, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class MarketDataTable(SQLModel, registry=registry()):
    """Base of market-data's tables: a metadata of their own."""


class LastBar(MarketDataTable, table=True):
    """Each symbol's last published stream bar start: a restart still sees (and backfills) its gap."""

    __tablename__ = "last_bar"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    start: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class FileCursor(MarketDataTable, table=True):
    """How far a file of bars was published, so a restart does not publish it twice."""

    __tablename__ = "file_cursor"

    path: str = Field(primary_key=True, sa_type=sa.Text)
    sha256: str = Field(sa_type=sa.Text, sa_column_kwargs={"comment": "content hash: another file starts over"})
    rows_done: int = Field(sa_type=sa.BigInteger,
                           sa_column_kwargs={"comment": "data rows handled (published or dead-lettered)"})
    finished: bool = Field(sa_type=sa.Boolean)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
