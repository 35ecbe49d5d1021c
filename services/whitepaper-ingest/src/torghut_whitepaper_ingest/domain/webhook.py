"""The webhook's decisions, without HTTP: is the signature right, and which deliveries become events.

GitHub signs the raw body with the webhook secret (``X-Hub-Signature-256: sha256=<hex>``); the
comparison is constant-time so the response time leaks nothing about the expected digest.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from torghut_contracts.models import GithubIssueEvent

HANDLED_EVENTS = frozenset({"issues", "issue_comment"})
SIGNATURE_PREFIX = "sha256="


def signature_for(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(signature_for(secret, body).encode("ascii"), header.strip().encode("ascii", "replace"))


@dataclass(frozen=True)
class NotAnIssueEvent:
    """A delivery that is valid but carries no issue event we can key (HTTP 400 with ``detail``)."""

    detail: str


def issue_event(event_name: str, delivery_id: str, payload: dict[str, Any],
                received_at: datetime) -> GithubIssueEvent | NotAnIssueEvent:
    """The Kafka message for an ``issues`` / ``issue_comment`` delivery; the raw payload is kept whole."""
    repository = payload.get("repository")
    issue = payload.get("issue")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    number = issue.get("number") if isinstance(issue, dict) else None
    if not isinstance(full_name, str) or not full_name:
        return NotAnIssueEvent("repository.full_name is missing")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return NotAnIssueEvent("issue.number is missing or not a positive integer")
    action = payload.get("action")
    try:
        return GithubIssueEvent(delivery_id=delivery_id, event=event_name,  # type: ignore[arg-type]
                                action=action if isinstance(action, str) else "", repository=full_name,
                                issue_number=number, received_at=received_at, payload=payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()[:5])
        return NotAnIssueEvent(fields)


def infer_event_name(payload: dict[str, Any]) -> str | None:
    """Upstream's inference for a replayed body without headers: comment+issue -> issue_comment."""
    if "issue" in payload and "repository" in payload:
        return "issue_comment" if "comment" in payload else "issues"
    return None
