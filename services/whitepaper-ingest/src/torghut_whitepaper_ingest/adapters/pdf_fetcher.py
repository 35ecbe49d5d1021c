"""Downloading the paper with limits: allowed host, status, content type, ``%PDF`` magic, size cap, deadline.

The deadline covers the whole download (a server that trickles one byte a second never trips a
per-read timeout); the size cap is checked against Content-Length first and then against the bytes
actually received. httpx follows at most five redirects and drops the Authorization header when a
redirect leaves the origin, as upstream did.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import httpx

from ..domain.pdf import DownloadRefused, content_type_acceptable, host_allowed, looks_like_pdf

ACCEPT = "application/pdf,application/octet-stream;q=0.9,*/*;q=0.8"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchedPdf:
    data: bytes
    sha256: str
    content_type: str

    @property
    def size(self) -> int:
        return len(self.data)


class PdfFetcher:
    """One pooled HTTP client for every download: building an ``httpx.AsyncClient`` loads the CA
    bundle (~30-50 ms here), which a client per paper paid on every run."""

    def __init__(self, *, max_bytes: int, timeout_s: float, allowed_hosts: tuple[str, ...],
                 bearer_token: str | None = None, user_agent: str = "torghut-whitepaper-ingest") -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.allowed_hosts = allowed_hosts
        self.bearer_token = bearer_token
        self.user_agent = user_agent
        self._client = httpx.AsyncClient(follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                         timeout=httpx.Timeout(timeout_s))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedPdf:
        """The PDF's bytes, or :class:`DownloadRefused` naming what was wrong."""
        if not url.lower().startswith(("http://", "https://")):
            raise DownloadRefused("unsupported_scheme", url[:200])
        if not host_allowed(url, self.allowed_hosts):
            raise DownloadRefused("host_not_allowed", httpx.URL(url).host)
        headers = {"Accept": ACCEPT, "User-Agent": self.user_agent}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._download(url, headers)
        except TimeoutError:
            raise DownloadRefused("timeout", f"no complete response within {self.timeout_s:g}s") from None
        except httpx.TooManyRedirects:
            raise DownloadRefused("too_many_redirects") from None
        except httpx.TimeoutException:
            raise DownloadRefused("timeout") from None
        except httpx.HTTPError as exc:
            raise DownloadRefused("transport_error", type(exc).__name__) from None

    async def _download(self, url: str, headers: dict[str, str]) -> FetchedPdf:
        async with self._client.stream("GET", url, headers=headers) as response:
            if not 200 <= response.status_code < 300:
                raise DownloadRefused(f"http_{response.status_code}")
            content_type = response.headers.get("content-type", "")
            if not content_type_acceptable(content_type):
                raise DownloadRefused("content_type", content_type[:100])
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise DownloadRefused("too_large", f"Content-Length {declared} > {self.max_bytes}")
            body = bytearray()
            magic_checked = False
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise DownloadRefused("too_large", f"more than {self.max_bytes} bytes")
                if not magic_checked and len(body) >= 5:
                    if not looks_like_pdf(bytes(body[:5])):
                        raise DownloadRefused("not_pdf", "body does not start with %PDF-")
                    magic_checked = True
            if not magic_checked:
                raise DownloadRefused("not_pdf", f"only {len(body)} bytes")
        data = bytes(body)
        return FetchedPdf(data=data, sha256=hashlib.sha256(data).hexdigest(),
                          content_type=content_type.split(";", 1)[0].strip() or "application/pdf")
