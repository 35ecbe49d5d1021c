"""A whitepaper run as plain values, and the lifecycle event each status change announces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_contracts.models import WhitepaperRunEvent

from . import ids
from .issue_body import WhitepaperMarker


@dataclass(frozen=True)
class Run:
    run_id: str
    repository: str
    issue_number: int
    issue_url: str
    issue_title: str
    attachment_url: str
    pdf_url: str
    marker: WhitepaperMarker
    status: Status
    status_reason: str | None = None
    seq: int = 0
    generation: int = 1
    pdf_sha256: str | None = None
    pdf_size_bytes: int | None = None
    object_uri: str | None = None
    agentrun_name: str | None = None

    @property
    def document_key(self) -> str | None:
        return ids.document_key(self.pdf_sha256) if self.pdf_sha256 else None

    @property
    def pdf_stored(self) -> bool:
        return self.pdf_sha256 is not None and self.object_uri is not None


def lifecycle_event(run: Run, *, seq: int, status: Status, reason: str | None,
                    occurred_at: datetime) -> WhitepaperRunEvent:
    """The ``torghut.whitepaper.runs.v1`` message for the run's ``seq``-th status change."""
    return WhitepaperRunEvent(
        event_id=ids.run_event_id(run.run_id, seq, status.value),
        run_id=run.run_id,
        status=status,
        repository=run.repository,
        issue_number=run.issue_number,
        pdf_url=run.pdf_url[:2000],
        pdf_sha256=run.pdf_sha256,
        pdf_size_bytes=run.pdf_size_bytes,
        reason=reason[:2000] if reason else None,
        occurred_at=occurred_at,
    )
