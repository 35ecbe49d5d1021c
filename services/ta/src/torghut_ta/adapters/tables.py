"""ta's tables, one SQLModel class each (the statements over them are in :mod:`.store`).

The migrations keep their own copy of each table as it was when they ran; the integration test
``test_tables`` migrates a fresh schema and diffs it against these classes, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class TaTable(SQLModel, registry=registry()):
    """Base of ta's tables: a metadata of their own."""


class SeriesStateRow(TaTable, table=True):
    """Each bar series: its last snapshot (the pickled state) and where it stands, written in the transaction
    that marks its bars processed."""

    __tablename__ = "series_state"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    bar_window: str = Field(primary_key=True, sa_type=sa.Text, sa_column_kwargs={"comment": "bar window, e.g. PT1M"})
    version: int = Field(sa_type=sa.Integer,
                         sa_column_kwargs={"comment": "format of state; another build's version is not unpickled"})
    seq: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"comment": "bars applied to the series"})
    revision: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={
        "comment": "writes of the row; what a process's kept state is checked by"})
    last_start: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    snapshot_seq: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={
        "comment": "seq the pickled state is at; later bars are in series_bars"})
    state: bytes = Field(sa_type=sa.LargeBinary, sa_column_kwargs={"comment": "pickled SeriesState"})
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class SeriesBarRow(TaTable, table=True):
    """A bar applied to a series after its snapshot: what a load replays onto the snapshot."""

    __tablename__ = "series_bars"
    __table_args__ = {"comment": "bars applied to a series after its snapshot, replayed onto it when it is loaded"}

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    bar_window: str = Field(primary_key=True, sa_type=sa.Text)
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger,
                     sa_column_kwargs={"comment": "the series' seq once this bar was applied"})
    start: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    open: Decimal = Field(sa_type=sa.Numeric)
    high: Decimal = Field(sa_type=sa.Numeric)
    low: Decimal = Field(sa_type=sa.Numeric)
    close: Decimal = Field(sa_type=sa.Numeric)
    volume: Decimal = Field(sa_type=sa.Numeric)
    vwap: Decimal | None = Field(default=None, sa_type=sa.Numeric)


class LatestQuoteRow(TaTable, table=True):
    """The latest quote of each symbol (by quote time), what the next signal of the symbol may carry."""

    __tablename__ = "latest_quote"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    bid: Decimal = Field(sa_type=sa.Numeric)
    ask: Decimal = Field(sa_type=sa.Numeric)
    bid_size: Decimal = Field(sa_type=sa.Numeric)
    ask_size: Decimal = Field(sa_type=sa.Numeric)
    source: str = Field(sa_type=sa.Text)
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
