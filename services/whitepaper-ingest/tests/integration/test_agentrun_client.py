"""AgentRun submission against a local HTTP server speaking Jangar's ``/v1/agent-runs``."""

from __future__ import annotations

import pytest
from torghut_whitepaper_ingest.adapters.agentrun_client import AgentRunClient, AgentRunDispatchFailed
from torghut_whitepaper_ingest.testing import RecordedRequest, Reply, StubHttpServer, agentrun_created

PATH = "/v1/agent-runs"
BODY = {"namespace": "agents", "idempotencyKey": "wp-0123456789abcdef01234567"}


def client(stub: StubHttpServer, attempts: int = 3, timeout_s: float = 30.0) -> AgentRunClient:
    return AgentRunClient(stub.url(PATH), token="agents-token", timeout_s=timeout_s, max_attempts=attempts,
                          backoff_s=0.01)


async def test_a_submission_sends_the_key_the_token_and_the_body(stub_http: StubHttpServer) -> None:
    stub_http.route("POST", PATH, agentrun_created("wp-agentrun-1", phase="Running", uid="u-1"))
    accepted = await client(stub_http).submit(BODY, "wp-0123456789abcdef01234567")
    assert (accepted.name, accepted.uid, accepted.phase, accepted.attempts) == ("wp-agentrun-1", "u-1", "Running", 1)
    [request] = stub_http.requests_to("POST", PATH)
    assert request.headers["idempotency-key"] == "wp-0123456789abcdef01234567"
    assert request.headers["authorization"] == "Bearer agents-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == BODY


async def test_transient_failures_are_retried_with_the_same_key(stub_http: StubHttpServer) -> None:
    answers = iter([Reply(503), Reply(429), agentrun_created()])

    def script(_: RecordedRequest) -> Reply:
        return next(answers)

    stub_http.route("POST", PATH, script)
    accepted = await client(stub_http).submit(BODY, "key-1")
    assert accepted.attempts == 3
    assert {r.headers["idempotency-key"] for r in stub_http.requests_to("POST", PATH)} == {"key-1"}
    assert len({r.body for r in stub_http.requests_to("POST", PATH)}) == 1


@pytest.mark.parametrize(("reply", "code", "tries"), [
    (Reply(503), "http_503", 3),
    (Reply(200, b"ok", delay_s=3.0), "timeout", 3),
    (Reply(400, b'{"error":"bad"}'), "http_400", 1),
    (Reply(409, b"{}"), "http_409", 1),
    (Reply(201, b'{"resource": {"metadata": {}}}'), "jangar_response_missing_agentrun_name", 1),
    (Reply(201, b"not json"), "invalid_json_response", 1),
])
async def test_failures(stub_http: StubHttpServer, reply: Reply, code: str, tries: int) -> None:
    stub_http.route("POST", PATH, reply)
    with pytest.raises(AgentRunDispatchFailed) as failed:
        await client(stub_http, timeout_s=0.5 if code == "timeout" else 30.0).submit(BODY, "key-1")
    assert failed.value.code == code
    assert failed.value.reason == f"agentrun_dispatch_failed:{code} after {tries} attempt(s)"
    assert len(stub_http.requests_to("POST", PATH)) == tries


async def test_nothing_listening_is_retried_then_failed() -> None:
    c = AgentRunClient("http://127.0.0.1:9/v1/agent-runs", token=None, timeout_s=30, max_attempts=2, backoff_s=0)
    with pytest.raises(AgentRunDispatchFailed) as failed:
        await c.submit(BODY, "k")
    assert failed.value.code.startswith("transport_error") and failed.value.attempts == 2
