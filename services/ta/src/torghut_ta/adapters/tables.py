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
    """Each bar series' indicator state, written in the transaction that marks its bars processed."""

    __tablename__ = "series_state"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    bar_window: str = Field(primary_key=True, sa_type=sa.Text, sa_column_kwargs={"comment": "bar window, e.g. PT1M"})
    version: int = Field(sa_type=sa.Integer,
                         sa_column_kwargs={"comment": "format of state; another build's version is not unpickled"})
    seq: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"comment": "bars applied to the series"})
    revision: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={
        "comment": "writes of the row; what a process's kept state is checked by"})
    last_start: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    state: bytes = Field(sa_type=sa.LargeBinary, sa_column_kwargs={"comment": "pickled SeriesState"})
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


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
