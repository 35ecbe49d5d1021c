"""The risk firewall's tables, one SQLModel class each (the statements over them are in :mod:`.store`).

Every handler locks its account's row (``SELECT ... FOR UPDATE``), which is what serialises the
decision, trade-update and snapshot subscribers of one account.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class FirewallTable(SQLModel, registry=registry()):
    """Base of the firewall's tables: a metadata of their own."""


class Account(FirewallTable, table=True):
    """One row per account: the portfolio state every handler of the account shares."""

    __tablename__ = "accounts"

    account: str = Field(primary_key=True, sa_type=sa.Text)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB,
                                  sa_column_kwargs={"server_default": sa.text("'{}'::jsonb")})
    version: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
                                 sa_column_kwargs={"server_default": sa.func.now()})


class Verdict(FirewallTable, table=True):
    """Every verdict by decision: a replayed decision gets the stored verdict back, never a new one."""

    __tablename__ = "verdicts"
    __table_args__ = (sa.Index("ix_verdicts_decided_at", "account", "decided_at"),)

    account: str = Field(primary_key=True, sa_type=sa.Text)
    decision_id: str = Field(primary_key=True, sa_type=sa.Text)
    outcome: str = Field(sa_type=sa.Text)
    client_order_id: str | None = Field(default=None, sa_type=sa.Text, unique=True)
    symbol: str = Field(sa_type=sa.Text)
    reason_codes: list[str] = Field(sa_type=JSONB)
    verdict: dict[str, Any] = Field(sa_type=JSONB)
    approved_order: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    decided_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    recorded_at: datetime = Field(sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
                                  sa_column_kwargs={"server_default": sa.func.now()})


class TradeUpdateApplied(FirewallTable, table=True):
    """Trade updates applied, by fingerprint: a duplicate (venue resend, replay) is applied once."""

    __tablename__ = "trade_updates_applied"

    fingerprint: str = Field(primary_key=True, sa_type=sa.Text)
    account: str = Field(sa_type=sa.Text)
    client_order_id: str = Field(sa_type=sa.Text)
    event: str = Field(sa_type=sa.Text)
    event_ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    applied_at: datetime = Field(sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
                                 sa_column_kwargs={"server_default": sa.func.now()})


class ControlCommandRow(FirewallTable, table=True):
    """The latest operator command per scope (``global`` or an account)."""

    __tablename__ = "control_commands"

    scope: str = Field(primary_key=True, sa_type=sa.Text)
    command_id: str = Field(sa_type=sa.Text)
    command: dict[str, Any] = Field(sa_type=JSONB)
    issued_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]


class MarketMark(FirewallTable, table=True):
    """The last TA signal price per symbol: price collar, exposure marks, participation volume."""

    __tablename__ = "market_marks"

    symbol: str = Field(primary_key=True, sa_type=sa.Text)
    price: Decimal = Field(sa_type=sa.Numeric)
    volume: Decimal | None = Field(default=None, sa_type=sa.Numeric)
    event_ts: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    seq: int = Field(sa_type=sa.BigInteger)


class LatchEvent(FirewallTable, table=True):
    """The audit of the account latch: who tripped or reset it, when and why."""

    __tablename__ = "latch_events"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    account: str = Field(sa_type=sa.Text)
    action: str = Field(sa_type=sa.Text)
    reason: str = Field(sa_type=sa.Text)
    detail: str = Field(sa_type=sa.Text)
    operator: str | None = Field(default=None, sa_type=sa.Text)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
