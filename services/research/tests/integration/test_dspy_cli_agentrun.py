"""``torghut-research dspy agentrun`` end to end, and the client that submits an AgentRun to Jangar on
loopback.

The Jangar stand-in is a plain HTTP server on 127.0.0.1 that answers ``POST /v1/agent-runs`` the way
Jangar does (201 with the created AgentRun resource) and records every request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from torghut_research.dspy.agentrun import AgentRunSubmitError, build_dspy_agentrun_payload, submit_agentrun
from torghut_research.dspy.metric_policy import SHIPPED

from .conftest import cli

# -- a loopback Jangar ------------------------------------------------------------------------------

Reply = tuple[int, bytes]


class Jangar:
    def __init__(self) -> None:
        self.reply: Reply | Callable[[], Reply] = (201, json.dumps({"ok": True, "resource": {
            "metadata": {"name": "dspy-compile-1", "uid": "uid-1", "namespace": "agents"},
            "status": {"phase": "Pending"}}}).encode())
        self.requests: list[dict[str, Any]] = []
        jangar = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                jangar.requests.append({"path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, data = (404, b"not found") if self.path != "/v1/agent-runs" else (
                    jangar.reply() if callable(jangar.reply) else jangar.reply)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (the timeout test)
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def jangar() -> Iterator[Jangar]:
    stub = Jangar()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


# -- agentrun -------------------------------------------------------------------------------------

AGENTRUN = ["dspy", "agentrun", "--lane", "compile", "--idempotency-key", "dspy-compile-20", "--repository",
            "proompteng/torghut", "--base", "main", "--head", "codex/dspy-compile-20", "--artifact-path",
            "artifacts/dspy/20", "--issue-number", "20", "--param", "seed=7"]


def test_agentrun_prints_the_payload(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, *AGENTRUN, "--metric-policy", SHIPPED)
    assert code == 0 and out["submitted"] is False
    assert out["payload"]["parameters"] == {"artifactPath": "artifacts/dspy/20", "base": "main",
                                            "head": "codex/dspy-compile-20", "issueNumber": "20",
                                            "repository": "proompteng/torghut", "seed": "7"}
    code, _, err = cli(capsys, *AGENTRUN, "--param", "seed")
    assert code == 2 and "expected KEY=VALUE" in err
    code, _, err = cli(capsys, *AGENTRUN, "--param", "note=  ")
    assert code == 2 and err.strip() == "torghut-research: agentrun: parameter_note_must_be_non_empty"


def test_agentrun_submits_to_jangar(capsys: pytest.CaptureFixture[str], jangar: Jangar,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTS_API_KEY", "agents-token")
    code, out, _ = cli(capsys, *AGENTRUN, "--submit", jangar.url)
    assert code == 0 and out["submitted"] is True
    assert out["response"]["resource"]["metadata"]["name"] == "dspy-compile-1"
    [request] = jangar.requests
    assert request["path"] == "/v1/agent-runs"
    assert request["headers"]["idempotency-key"] == "dspy-compile-20"
    assert request["headers"]["authorization"] == "Bearer agents-token"
    assert request["headers"]["content-type"] == "application/json"
    assert json.loads(request["body"]) == out["payload"]


def test_agentrun_submit_failure_exits_1_with_the_code(capsys: pytest.CaptureFixture[str], jangar: Jangar) -> None:
    jangar.reply = (409, b'{"error":"conflict"}')
    code, out, _ = cli(capsys, *AGENTRUN, "--submit", jangar.url)
    assert code == 1 and out["submitted"] is False
    assert out["error"] == 'jangar_submit_http_409:{"error":"conflict"}' and out["outcomeUnknown"] is False


# -- the submit client ----------------------------------------------------------------------------

def payload() -> dict[str, Any]:
    return build_dspy_agentrun_payload(lane="eval", idempotency_key="dspy-eval-1", repository="o/r", base="main",
                                       head="h", artifact_path="a")


def test_submit_returns_jangars_answer_and_sends_no_token_when_none(jangar: Jangar) -> None:
    answer = submit_agentrun(jangar.url + "/", payload())
    assert answer["ok"] is True
    [request] = jangar.requests
    assert "authorization" not in request["headers"]
    assert request["headers"]["idempotency-key"] == "dspy-eval-1"


@pytest.mark.parametrize(("reply", "code"), [
    ((500, b"x" * 300), "jangar_submit_http_500:" + "x" * 200),
    ((400, b'{"error":"bad request"}'), 'jangar_submit_http_400:{"error":"bad request"}'),
    ((201, b"not json"), "invalid_jangar_response"),
    ((200, b"[1, 2]"), "invalid_jangar_response"),
    ((200, b'"ok"'), "invalid_jangar_response"),
])
def test_submit_failures_have_their_codes(jangar: Jangar, reply: Reply, code: str) -> None:
    jangar.reply = reply
    with pytest.raises(AgentRunSubmitError) as error:
        submit_agentrun(jangar.url, payload(), auth_token="t")
    assert error.value.code == code and error.value.outcome_unknown is False


def test_submit_timeout_is_an_unknown_outcome(jangar: Jangar) -> None:
    import time

    def slow() -> Reply:
        time.sleep(1.0)
        return (201, b"{}")

    jangar.reply = slow
    with pytest.raises(AgentRunSubmitError) as error:
        submit_agentrun(jangar.url, payload(), timeout_s=0.2)
    assert error.value.code == "jangar_submit_timeout" and error.value.outcome_unknown is True


def test_nothing_listening_is_a_transport_error() -> None:
    with pytest.raises(AgentRunSubmitError) as error:
        submit_agentrun("http://127.0.0.1:9", payload(), timeout_s=2)
    assert error.value.code.startswith("jangar_submit_transport_error:") and error.value.outcome_unknown is False
