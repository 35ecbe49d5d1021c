"""PDF limits against a real local HTTP server: size, type, magic bytes, status, slowness, hosts, redirects."""

from __future__ import annotations

import hashlib

import pytest
from torghut_whitepaper_ingest.adapters.pdf_fetcher import PdfFetcher
from torghut_whitepaper_ingest.domain.pdf import DownloadRefused
from torghut_whitepaper_ingest.testing import MINIMAL_PDF, Reply, StubHttpServer, pdf_reply

CAP = 4096


def fetcher(*, timeout_s: float = 5.0, hosts: tuple[str, ...] = ("127.0.0.1",), token: str | None = None
            ) -> PdfFetcher:
    return PdfFetcher(max_bytes=CAP, timeout_s=timeout_s, allowed_hosts=hosts, bearer_token=token)


async def test_a_pdf_is_fetched_with_its_hash(stub_http: StubHttpServer) -> None:
    stub_http.route("GET", "/paper.pdf", pdf_reply(content_type="application/pdf; charset=binary"))
    pdf = await fetcher(token="gh-token").fetch(stub_http.url("/paper.pdf"))
    assert pdf.data == MINIMAL_PDF and pdf.size == len(MINIMAL_PDF)
    assert pdf.sha256 == hashlib.sha256(MINIMAL_PDF).hexdigest()
    assert pdf.content_type == "application/pdf"
    [request] = stub_http.requests_to("GET", "/paper.pdf")
    assert request.headers["accept"].startswith("application/pdf")
    assert request.headers["authorization"] == "Bearer gh-token"


async def test_octet_stream_and_a_missing_content_type_are_judged_by_the_magic_bytes(
        stub_http: StubHttpServer) -> None:
    stub_http.route("GET", "/a.pdf", pdf_reply(content_type="application/octet-stream"))
    stub_http.route("GET", "/b.pdf", Reply(200, MINIMAL_PDF))
    assert (await fetcher().fetch(stub_http.url("/a.pdf"))).data == MINIMAL_PDF
    assert (await fetcher().fetch(stub_http.url("/b.pdf"))).data == MINIMAL_PDF


async def test_a_redirect_is_followed(stub_http: StubHttpServer) -> None:
    stub_http.route("GET", "/paper.pdf", pdf_reply())
    stub_http.route("GET", "/moved.pdf", Reply(302, b"", {"Location": stub_http.url("/paper.pdf")}))
    assert (await fetcher().fetch(stub_http.url("/moved.pdf"))).data == MINIMAL_PDF


REFUSALS = [
    ("too big by Content-Length", "/big.pdf", pdf_reply(MINIMAL_PDF + b"0" * CAP), "too_large"),
    ("too big by the streamed length", "/big-stream.pdf",
     pdf_reply(MINIMAL_PDF + b"0" * CAP, declare_length=False), "too_large"),
    ("html page", "/page.pdf", Reply(200, b"<html>login</html>", {"Content-Type": "text/html"}), "content_type"),
    ("opaque bytes that are not a PDF", "/zip.pdf", pdf_reply(b"PK\x03\x04" + b"0" * 100,
                                                              content_type="application/octet-stream"), "not_pdf"),
    ("a pdf content type on html", "/liar.pdf", pdf_reply(b"<html></html>"), "not_pdf"),
    ("empty body", "/empty.pdf", pdf_reply(b""), "not_pdf"),
    ("not found", "/missing.pdf", Reply(404, b"not found"), "http_404"),
    ("server error", "/broken.pdf", Reply(500, b"oops"), "http_500"),
    ("slow to answer", "/slow-headers.pdf", pdf_reply(delay_s=3.0), "timeout"),
    ("slow body (trickle)", "/slow-body.pdf", pdf_reply(MINIMAL_PDF * 4, trickle_s=0.1), "timeout"),
]
SLOW_DEADLINE_S = 0.5  # the slow replies take seconds; everything else gets a deadline it cannot miss on a busy box


@pytest.mark.parametrize(("path", "reply", "code"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_refusals(stub_http: StubHttpServer, path: str, reply: Reply, code: str) -> None:
    stub_http.route("GET", path, reply)
    with pytest.raises(DownloadRefused) as refused:
        await fetcher(timeout_s=SLOW_DEADLINE_S if code == "timeout" else 30.0).fetch(stub_http.url(path))
    assert refused.value.code == code
    assert refused.value.reason == f"download_failed:{code}"


async def test_too_many_redirects(stub_http: StubHttpServer) -> None:
    stub_http.route("GET", "/loop.pdf", Reply(302, b"", {"Location": stub_http.url("/loop.pdf")}))
    with pytest.raises(DownloadRefused) as refused:
        await fetcher().fetch(stub_http.url("/loop.pdf"))
    assert refused.value.code == "too_many_redirects"


@pytest.mark.parametrize(("url", "code"), [
    ("http://169.254.169.254/latest/meta-data.pdf", "host_not_allowed"),
    ("http://localhost/paper.pdf", "host_not_allowed"),
    ("ftp://127.0.0.1/paper.pdf", "unsupported_scheme"),
])
async def test_urls_outside_the_allow_list_are_never_fetched(url: str, code: str) -> None:
    with pytest.raises(DownloadRefused) as refused:
        await fetcher().fetch(url)
    assert refused.value.code == code


async def test_nothing_listens_is_a_transport_error() -> None:
    with pytest.raises(DownloadRefused) as refused:
        await fetcher().fetch("http://127.0.0.1:9/paper.pdf")
    assert refused.value.code == "transport_error"
