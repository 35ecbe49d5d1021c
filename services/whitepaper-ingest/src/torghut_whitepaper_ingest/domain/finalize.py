"""The finalize payload Jangar posts when the AgentRun ends (upstream §7.8), and what it does to the run.

Unknown fields are kept (Jangar adds fields over time; the whole payload is stored as the result),
but the ones that steer the run are typed: ``status`` decides ``finalized`` or ``failed``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from torghut_contracts.enums import WhitepaperRunStatus as Status

FAILURE_REASONS = frozenset({
    "agentrun_failed", "agentrun_cancelled", "whitepaper_outputs_missing", "whitepaper_output_invalid",
    "whitepaper_output_fetch_failed", "whitepaper_github_token_missing",
})


class FinalizePayload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    status: Literal["completed", "failed"] = "completed"
    source: str | None = Field(default=None, max_length=200)
    agentrun_name: str | None = Field(default=None, max_length=253)
    artifacts: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    repository: str | None = Field(default=None, max_length=200)
    head_branch: str | None = Field(default=None, max_length=255)
    base_branch: str | None = Field(default=None, max_length=255)
    synthesis: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    design_pull_request: dict[str, Any] | list[dict[str, Any]] | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    failure_reason: str | None = Field(default=None, max_length=200)
    failure_detail: str | None = Field(default=None, max_length=4000)

    @property
    def target_status(self) -> Status:
        return Status.FINALIZED if self.status == "completed" else Status.FAILED

    @property
    def reason(self) -> str | None:
        """Why the run failed (``agentrun_failed`` when Jangar gave no reason); None when it completed."""
        if self.status == "completed":
            return None
        reason = self.failure_reason or "agentrun_failed"
        return f"{reason}: {self.failure_detail}"[:2000] if self.failure_detail else reason

    @property
    def verdict_name(self) -> str | None:
        if self.verdict is None:
            return None
        value = self.verdict.get("verdict")
        return str(value) if value is not None else "needs_review"

    def design_pull_request_urls(self) -> list[str]:
        items = self.design_pull_request
        entries = [items] if isinstance(items, dict) else list(items or [])
        return [str(e["pr_url"]) for e in entries if isinstance(e, dict) and e.get("pr_url")]
