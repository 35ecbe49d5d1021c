"""The decision engine's tables, one SQLModel class each (the statements over them are in :mod:`.store`).

The migrations keep their own copy of each table as it was when they ran; the integration test
``test_tables`` migrates a fresh schema and diffs it against these classes, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class DecisionEngineTable(SQLModel, registry=registry()):
    """Base of the decision engine's tables: a metadata of their own."""


class Run(DecisionEngineTable, table=True):
    """One run per request id: its state, its lease and the counter its events are numbered by."""

    __tablename__ = "runs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('accepted', 'running', 'final', 'error')", name="runs_status_known"),
        sa.Index("runs_live_by_lease", "lease_expires_at",
                 postgresql_where=sa.text("status IN ('accepted', 'running')")),
        sa.Index("runs_finished_by_update", "updated_at",
                 postgresql_where=sa.text("status IN ('final', 'error')")),
    )

    run_id: str = Field(primary_key=True, sa_type=sa.Text)
    request_id: str = Field(sa_type=sa.Text, unique=True)
    request_hash: str = Field(sa_type=sa.Text)
    request: str = Field(sa_type=sa.Text)
    """The decision request as JSON."""
    symbol: str = Field(sa_type=sa.Text)
    strategy_id: str = Field(sa_type=sa.Text)
    status: str = Field(sa_type=sa.Text)
    """A :class:`~torghut_contracts.decision_engine.RunState` value."""
    fault: str | None = Field(default=None, sa_type=sa.Text)
    owner: str = Field(sa_type=sa.Text)
    """The instance running it, which renews its lease."""
    lease_expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    deadline_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    last_event_id: int = Field(default=0, sa_type=sa.Integer, sa_column_kwargs={"server_default": "0"})
    final: str | None = Field(default=None, sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)


class RunEvent(DecisionEngineTable, table=True):
    """A run's SSE events, numbered 1, 2, 3, ... per run: a stream replays them after any id."""

    __tablename__ = "run_events"

    run_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key="runs.run_id", ondelete="CASCADE")
    event_id: int = Field(primary_key=True, sa_type=sa.Integer)
    event: str = Field(sa_type=sa.Text)
    data: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
