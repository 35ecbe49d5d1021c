"""whitepaper-ingest's tables, one SQLModel class each (the statements over them are in :mod:`.run_store`,
:mod:`.work_store` and :mod:`.outbox`).

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


class WhitepaperIngestTable(SQLModel, registry=registry()):
    """Base of whitepaper-ingest's tables: a metadata of their own."""


class WhitepaperRunRow(WhitepaperIngestTable, table=True):
    """One row per run (an issue's PDF): its status, its PDF and its AgentRun; ``seq`` counts its status changes."""

    __tablename__ = "whitepaper_runs"
    __table_args__ = (
        sa.CheckConstraint("status IN ('received', 'pdf_stored', 'dispatched', 'running', 'finalized', 'failed')",
                           name="whitepaper_runs_status_known"),
        sa.UniqueConstraint("repository", "issue_number", "pdf_url", name="whitepaper_runs_issue_pdf_unique"),
        sa.Index("whitepaper_runs_by_issue", "repository", "issue_number"),
    )

    run_id: str = Field(primary_key=True, sa_type=sa.Text)
    repository: str = Field(sa_type=sa.Text)
    issue_number: int = Field(sa_type=sa.Integer)
    issue_url: str = Field(sa_type=sa.Text)
    issue_title: str = Field(sa_type=sa.Text)
    attachment_url: str = Field(sa_type=sa.Text)
    pdf_url: str = Field(sa_type=sa.Text)
    marker: dict[str, Any] = Field(sa_type=JSONB)
    """The issue body's whitepaper marker as JSON."""
    status: str = Field(sa_type=sa.Text)
    """A :class:`~torghut_contracts.enums.WhitepaperRunStatus` value."""
    status_reason: str | None = Field(default=None, sa_type=sa.Text)
    seq: int = Field(sa_type=sa.Integer)
    dispatch_generation: int = Field(default=0, sa_type=sa.Integer, sa_column_kwargs={"server_default": "0"})
    delivery_id: str = Field(sa_type=sa.Text)
    trigger_source: str = Field(sa_type=sa.Text)
    trigger_actor: str | None = Field(default=None, sa_type=sa.Text)
    source_event: dict[str, Any] = Field(sa_type=JSONB)
    """The GitHub issue event that created the run, as JSON."""
    pdf_sha256: str | None = Field(default=None, sa_type=sa.Text)
    pdf_size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    pdf_content_type: str | None = Field(default=None, sa_type=sa.Text)
    object_key: str | None = Field(default=None, sa_type=sa.Text)
    object_uri: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_name: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_uid: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_phase: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_idempotency_key: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_prompt_hash: str | None = Field(default=None, sa_type=sa.Text)
    dispatch_attempts: int = Field(default=0, sa_type=sa.Integer, sa_column_kwargs={"server_default": "0"})
    dispatched_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    finalized_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class WhitepaperRunEventRow(WhitepaperIngestTable, table=True):
    """One row per status change of a run: its history *and* the outbox (``published_at`` unset until sent)."""

    __tablename__ = "whitepaper_run_events"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "seq", name="whitepaper_run_events_run_seq_unique"),
        sa.Index("whitepaper_run_events_unpublished", "occurred_at", postgresql_where=sa.text("published_at IS NULL")),
    )

    event_id: str = Field(primary_key=True, sa_type=sa.Text)
    run_id: str = Field(sa_type=sa.Text, foreign_key="whitepaper_runs.run_id")
    seq: int = Field(sa_type=sa.Integer)
    from_status: str | None = Field(default=None, sa_type=sa.Text)
    to_status: str = Field(sa_type=sa.Text)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    cause: str = Field(sa_type=sa.Text)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    """The lifecycle event as JSON."""
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    published_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class WhitepaperRunResultRow(WhitepaperIngestTable, table=True):
    """The finalize result of a run (the latest one received)."""

    __tablename__ = "whitepaper_run_results"

    run_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key="whitepaper_runs.run_id")
    status: str = Field(sa_type=sa.Text)
    source: str | None = Field(default=None, sa_type=sa.Text)
    agentrun_name: str | None = Field(default=None, sa_type=sa.Text)
    verdict: str | None = Field(default=None, sa_type=sa.Text)
    design_pull_requests: list[str] = Field(sa_type=JSONB)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    """The finalize request body as received."""
    payload_sha256: str = Field(sa_type=sa.Text)
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class WhitepaperRunWorkRow(WhitepaperIngestTable, table=True):
    """The slow step a run waits for (at most one per run), its lease and a dispatch's claimed generation."""

    __tablename__ = "whitepaper_run_work"
    __table_args__ = (
        sa.CheckConstraint("step IN ('store_pdf', 'dispatch')", name="whitepaper_run_work_step_known"),
        sa.Index("whitepaper_run_work_by_age", "created_at", "run_id"),
    )

    run_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key="whitepaper_runs.run_id")
    step: str = Field(sa_type=sa.Text)
    """A :class:`~torghut_whitepaper_ingest.domain.work.Step` value."""
    then_dispatch: bool = Field(sa_type=sa.Boolean)
    dispatch_generation: int | None = Field(default=None, sa_type=sa.Integer)
    cause: str = Field(sa_type=sa.Text)
    lease_owner: str | None = Field(default=None, sa_type=sa.Text)
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
