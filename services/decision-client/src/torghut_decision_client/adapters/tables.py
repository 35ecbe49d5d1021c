"""The decision-client's tables, one SQLModel class each (the statements over them are in :mod:`.store`
and :mod:`.claims`).

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


class DecisionClientTable(SQLModel, registry=registry()):
    """Base of the decision-client's tables: a metadata of their own."""


class AccountSnapshotRow(DecisionClientTable, table=True):
    """The latest snapshot per account, so the portfolio survives a restart without re-reading the topic."""

    __tablename__ = "account_snapshots"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    snapshot_id: str = Field(sa_type=sa.Text)
    as_of: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    payload: dict[str, Any] = Field(sa_type=JSONB)
    """The snapshot as JSON."""
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class DecisionRow(DecisionClientTable, table=True):
    """One decision per (account, request id): a replayed trigger gets the stored decision back."""

    __tablename__ = "decisions"
    __table_args__ = (sa.Index("decisions_decided_at", "decided_at"),)

    account: str = Field(primary_key=True, sa_type=sa.Text)
    request_id: str = Field(primary_key=True, sa_type=sa.Text)
    decision_id: str = Field(sa_type=sa.Text, unique=True)
    symbol: str = Field(sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    reason_codes: list[str] = Field(sa_type=JSONB)
    transport: str = Field(sa_type=sa.Text)
    run_id: str | None = Field(default=None, sa_type=sa.Text)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    """The decision as JSON."""
    decided_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class DecisionClaim(DecisionClientTable, table=True):
    """A trigger claimed by the handler and not yet decided and published, leased by one worker at a time."""

    __tablename__ = "decision_claims"
    __table_args__ = (sa.Index("decision_claims_by_symbol", "symbol", "seq"),)

    seq: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger,
                            sa_column_kwargs={"server_default": sa.Identity(always=False)})
    message_id: str = Field(sa_type=sa.Text, unique=True)
    account: str = Field(sa_type=sa.Text)
    request_id: str = Field(sa_type=sa.Text)
    symbol: str = Field(sa_type=sa.Text)
    trigger: dict[str, Any] = Field(sa_type=JSONB)
    """The trigger as JSON."""
    headers: dict[str, Any] = Field(sa_type=JSONB)
    """The trigger message's headers."""
    snapshot: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    """The account's latest snapshot when the trigger was claimed."""
    claimed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    lease_owner: str | None = Field(default=None, sa_type=sa.Text)
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
