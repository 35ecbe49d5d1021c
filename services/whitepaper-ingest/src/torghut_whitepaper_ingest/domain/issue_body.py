"""Reading an issue body: the ``TORGHUT_WHITEPAPER`` marker block and the PDF attachment URL.

These are upstream's rules (reference §7.2), kept exact because operators already write issues in
this shape: the first START marker, then the first END after it; one ``key: value`` per line; the
marker's ``attachment_url`` wins over URLs found in the body; otherwise the first markdown link,
then the first bare URL, that contains ``.pdf``. One leniency on top: whitespace *inside* the HTML
comment of a marker may vary (``<!--TORGHUT_WHITEPAPER:START-->`` matches too), since editors and
copy-paste reflow it and the intent is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

SUPPORTED_WORKFLOW = "whitepaper-analysis-v1"
ANALYSIS_MODES = ("implementation", "analysis_only")

_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?(https?://[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", re.IGNORECASE)
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
_TAG_SPLIT = re.compile(r"[,\n]")
_NOT_TAG_CHAR = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class WhitepaperMarker:
    """The parsed ``key: value`` lines between the markers (unknown keys are kept in ``extra``)."""

    workflow: str | None = None
    base_branch: str | None = None
    head_branch: str | None = None
    attachment_url: str | None = None
    subject: str | None = None
    tags: tuple[str, ...] = ()
    analysis_mode: str = "implementation"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def workflow_supported(self) -> bool:
        return self.workflow is None or self.workflow.lower() == SUPPORTED_WORKFLOW

    def as_json(self) -> dict[str, object]:
        return {"workflow": self.workflow, "base_branch": self.base_branch, "head_branch": self.head_branch,
                "attachment_url": self.attachment_url, "subject": self.subject, "tags": list(self.tags),
                "analysis_mode": self.analysis_mode}


def _marker_pattern(marker: str) -> re.Pattern[str]:
    return re.compile(r"\s*".join(re.escape(token) for token in marker.split()))


def marker_block(body: str, start: str, end: str) -> str | None:
    """The text between the first START marker and the first END marker after it, or None."""
    opened = _marker_pattern(start).search(body)
    if opened is None:
        return None
    closed = _marker_pattern(end).search(body, opened.end())
    if closed is None:
        return None
    return body[opened.end():closed.start()]


def parse_marker_lines(block: str) -> dict[str, str]:
    """``key: value`` lines; blank, ``#`` and colon-less lines are skipped; the first key wins."""
    values: dict[str, str] = {}
    for raw in block.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        key = key.strip().lower()
        if key and key not in values:
            values[key] = value.strip()
    return values


def normalize_tags(raw: str) -> tuple[str, ...]:
    tags = {_NOT_TAG_CHAR.sub("_", part.strip().lower()).strip("_") for part in _TAG_SPLIT.split(raw)}
    return tuple(sorted(tag for tag in tags if tag))


def parse_marker(body: str, start: str, end: str) -> WhitepaperMarker | None:
    """The marker block as a :class:`WhitepaperMarker`; None when absent or empty ("no marker")."""
    block = marker_block(body, start, end)
    if block is None:
        return None
    values = parse_marker_lines(block)
    if not values:
        return None
    known = {"workflow", "base_branch", "head_branch", "attachment_url", "subject", "tags", "analysis_mode"}
    mode = values.get("analysis_mode", "").lower().replace("-", "_")
    return WhitepaperMarker(
        workflow=values.get("workflow") or None,
        base_branch=values.get("base_branch") or None,
        head_branch=values.get("head_branch") or None,
        attachment_url=values.get("attachment_url", "").strip("<>").strip() or None,
        subject=values.get("subject") or None,
        tags=normalize_tags(values.get("tags", "")),
        analysis_mode=mode if mode in ANALYSIS_MODES else "implementation",
        extra={k: v for k, v in values.items() if k not in known},
    )


def pdf_urls(body: str) -> list[str]:
    """Candidate PDF URLs in body order: markdown links first, then bare URLs; de-duplicated."""
    found = [m.group(1) for m in _MARKDOWN_LINK.finditer(body)]
    found += [m.group(0).rstrip(".,") for m in _BARE_URL.finditer(body)]
    seen: set[str] = set()
    out: list[str] = []
    for url in found:
        if ".pdf" in url.lower() and url not in seen:
            seen.add(url)
            out.append(url)
    return out


def attachment_url(body: str, marker: WhitepaperMarker) -> str | None:
    """The paper's URL: the marker's ``attachment_url`` if set, else the first PDF URL in the body."""
    if marker.attachment_url:
        return marker.attachment_url
    candidates = pdf_urls(body)
    return candidates[0] if candidates else None


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, keep path and query (the run_id's input)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username is not None:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))
