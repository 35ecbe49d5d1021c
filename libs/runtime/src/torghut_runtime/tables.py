"""The runtime's own table, which every service's schema has: the tracking records of the processed-message store.

Tables are SQLModel classes, one definition each. Every service's tables hang off a base of its
own (a registry and a ``MetaData`` per service, since several services share a test process and
each has a ``processed_messages``). Migrations keep their own copy of each table as it was when
they ran, as migrations must; ``torghut_runtime.testing.schema_drift`` holds the classes and the
migrated schema to each other in a test per service.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class RuntimeTable(SQLModel, registry=registry()):
    """Base of the runtime's tables."""


class ProcessedMessage(RuntimeTable, table=True):
    """One consumed message a consumer group has handled, with the outputs to republish on redelivery."""

    __tablename__ = "processed_messages"

    consumer: str = Field(primary_key=True, sa_type=sa.Text)
    message_id: str = Field(primary_key=True, sa_type=sa.Text)
    topic: str = Field(sa_type=sa.Text)
    partition: int = Field(sa_type=sa.Integer)
    offset: int = Field(sa_type=sa.BigInteger)
    outputs: str = Field(sa_type=sa.Text)
    """The stored outputs as JSON (``StoredOutput.as_json`` of each)."""
    processed_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
