"""``torghut.github.issue-events.v1`` and ``torghut.whitepaper.runs.v1``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from torghut_contracts.enums import WhitepaperRunStatus
from torghut_contracts.types import Identifier, IssueNumber, Label, NonNegative, Text, UtcDatetime

from .base import Contract


class GithubIssueEvent(Contract):
    """A GitHub webhook delivery, kept raw: the worker, not the receiver, interprets it."""

    delivery_id: Identifier
    event: Literal["issues", "issue_comment"]
    action: Label = Field(default="", max_length=64)
    repository: str = Field(pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
    issue_number: IssueNumber
    received_at: UtcDatetime
    payload: dict[str, Any]


class WhitepaperRunEvent(Contract):
    event_id: Identifier
    run_id: str = Field(pattern=r"^wp-[0-9a-f]{24}$")
    status: WhitepaperRunStatus
    repository: str = Field(pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
    issue_number: IssueNumber
    pdf_url: Text | None = Field(default=None, max_length=2000)
    pdf_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    pdf_size_bytes: NonNegative | None = None
    reason: Text | None = Field(default=None, max_length=2000)
    occurred_at: UtcDatetime
