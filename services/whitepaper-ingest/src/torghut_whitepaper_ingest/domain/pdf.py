"""What a downloaded paper must look like before it is stored: the pure half of the PDF limits.

A URL comes from an issue anyone may open, so the host must be on an allow-list (no fetching of
cluster-internal addresses on a stranger's behalf), the response must say it is a PDF or opaque
bytes, the bytes must start with ``%PDF-`` and stay under the size cap.
"""

from __future__ import annotations

from urllib.parse import urlsplit

PDF_MAGIC = b"%PDF-"
PDF_CONTENT_TYPES = frozenset({"application/pdf", "application/x-pdf", "application/octet-stream",
                               "binary/octet-stream"})


class DownloadRefused(Exception):
    """The paper could not be fetched or is not acceptable; ``code`` becomes ``download_failed:<code>``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return f"download_failed:{self.code}"


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """``allowed`` holds exact hosts, ``*.suffix`` (subdomains only) or ``*`` (anything)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return False
    for pattern in allowed:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def content_type_acceptable(header: str | None) -> bool:
    """A missing Content-Type is left to the magic-bytes check; a named one must be PDF or opaque bytes."""
    if not header:
        return True
    return header.split(";", 1)[0].strip().lower() in PDF_CONTENT_TYPES


def looks_like_pdf(first_bytes: bytes) -> bool:
    return first_bytes.startswith(PDF_MAGIC)
