"""What a GitHub issue event asks for: a whitepaper run (new or requeued), or nothing and why.

Upstream's gates (reference §7.1-§7.2), in upstream's order: the action must be one that can carry
a paper; the issue body must hold the marker block, a supported workflow and a PDF URL (for a
comment too: the comment only *requeues* what the issue describes); a comment must contain the
requeue keyword. The marker check comes before the comment check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torghut_contracts.models import GithubIssueEvent

from . import ids
from .issue_body import WhitepaperMarker, attachment_url, normalize_url, parse_marker

ALLOWED_ACTIONS: dict[str, frozenset[str]] = {
    "issues": frozenset({"opened", "edited", "reopened", "labeled"}),
    "issue_comment": frozenset({"created", "edited"}),
}


@dataclass(frozen=True)
class IntakeRules:
    marker_start: str = "<!-- TORGHUT_WHITEPAPER:START -->"
    marker_end: str = "<!-- TORGHUT_WHITEPAPER:END -->"
    requeue_keyword: str = "research whitepaper"


@dataclass(frozen=True)
class IssueIntake:
    """An event that names a paper: everything the run needs, with its deterministic ``run_id``."""

    run_id: str
    repository: str
    issue_number: int
    issue_url: str
    issue_title: str
    attachment_url: str
    pdf_url: str
    marker: WhitepaperMarker
    is_comment: bool
    actor: str | None
    delivery_id: str

    @property
    def source_identifier(self) -> str:
        return ids.source_identifier(self.repository, self.issue_number)


@dataclass(frozen=True)
class Rejected:
    """Nothing to do; ``reason`` is one of upstream's reason codes."""

    reason: str
    detail: str = ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def comment_requests_requeue(comment_body: str, keyword: str) -> bool:
    """Upstream: a case-insensitive substring match of the keyword in the comment body."""
    return keyword.strip().lower() in comment_body.lower()


def interpret(event: GithubIssueEvent, rules: IntakeRules) -> IssueIntake | Rejected:
    """Decide what an issue event asks for; pure, so a replay decides the same."""
    if event.action not in ALLOWED_ACTIONS[event.event]:
        return Rejected("ignored_event", f"{event.event}.{event.action or '<none>'}")
    payload = event.payload
    issue = _dict(payload.get("issue"))
    if event.event == "issue_comment" and issue.get("pull_request"):
        return Rejected("ignored_event", "comment on a pull request")
    body = _text(issue.get("body"))
    marker = parse_marker(body, rules.marker_start, rules.marker_end)
    if marker is None:
        return Rejected("marker_missing")
    if not marker.workflow_supported:
        return Rejected("unsupported_workflow_marker", marker.workflow or "")
    raw_url = attachment_url(body, marker)
    if raw_url is None:
        return Rejected("pdf_attachment_missing")
    try:
        pdf_url = normalize_url(raw_url)
    except ValueError:
        return Rejected("pdf_attachment_missing", f"not a URL: {raw_url[:200]}")
    if not pdf_url.startswith(("http://", "https://")):
        return Rejected("pdf_attachment_missing", f"not an http(s) URL: {raw_url[:200]}")
    is_comment = event.event == "issue_comment"
    if is_comment and not comment_requests_requeue(_text(_dict(payload.get("comment")).get("body")),
                                                   rules.requeue_keyword):
        return Rejected("comment_without_requeue_keyword")
    issue_url = _text(issue.get("html_url")) or f"https://github.com/{event.repository}/issues/{event.issue_number}"
    return IssueIntake(
        run_id=ids.run_id(event.repository, event.issue_number, pdf_url),
        repository=event.repository,
        issue_number=event.issue_number,
        issue_url=issue_url,
        issue_title=_text(issue.get("title"))[:500],
        attachment_url=raw_url,
        pdf_url=pdf_url,
        marker=marker,
        is_comment=is_comment,
        actor=_text(_dict(payload.get("sender")).get("login")) or None,
        delivery_id=event.delivery_id,
    )
