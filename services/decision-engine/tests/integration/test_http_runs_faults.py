"""The decision-engine endpoint over real HTTP (uvicorn) with real Postgres and the real broker: the
injected faults (honoured only with fault injection on), and bad requests, each refused with a 4xx
naming the field.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from torghut_contracts.decision_engine import RUNS_PATH, STREAM_PATH, DecisionError, DecisionFinal, RunStatus
from torghut_decision_engine.domain.ids import run_id_for

from .conftest import NORMAL_ORDER, BodyFactory, EngineServer, read_stream


async def test_injected_error_and_malformed_final(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        failed = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-err"),
                                   headers={"x-torghut-fault": "error"})
        assert failed.names[-1] == "decision.error"
        assert DecisionError.model_validate(failed.data("decision.error")).code == "injected"

        malformed = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-bad"),
                                      headers={"x-torghut-fault": "malformed-final"})
        assert malformed.names[-1] == "decision.final"
        with pytest.raises(ValidationError):
            DecisionFinal.model_validate(malformed.data("decision.final"))
        polled = await client.get(RUNS_PATH.format(run_id=malformed.headers["x-torghut-run-id"]))
        assert polled.json()["status"] == "final"
        with pytest.raises(ValidationError):
            RunStatus.model_validate(polled.json())


async def test_fault_header_is_ignored_unless_fault_injection_is_on(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server(decision_engine_fault_injection=False) as (base, _), \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        stream = await read_stream(client, "POST", STREAM_PATH, body=make_body(),
                                   headers={"x-torghut-fault": "error"})
        assert stream.names == NORMAL_ORDER
        nonsense = await read_stream(client, "POST", STREAM_PATH, body=make_body(request_id="req-2"),
                                     headers={"x-torghut-fault": "nonsense"})
        assert nonsense.status == 200


BAD_REQUESTS: list[tuple[str, Any, dict[str, str], int, str]] = [
    ("not json", "{nope", {}, 400, "malformed JSON"),
    ("nested 100,000 deep", "[" * 100_000 + "]" * 100_000, {}, 400, "deeper than 64"),
    ("nested 65 deep", "[" * 65 + "]" * 65, {}, 400, "deeper than 64"),
    ("NaN", '{"request_id": NaN}', {}, 400, "malformed JSON"),
    ("NUL in the request id", {"request_id": "req\u0000-1"}, {}, 400, "NUL"),
    ("a lone surrogate", '{"request_id": "\\ud800"}', {}, 400, "malformed JSON"),
    ("price 1e999999", {"trigger": {"price": "1e999999"}}, {}, 422, "trigger.price"),
    ("a 20-digit Last-Event-ID", {}, {"Last-Event-ID": "9" * 20}, 400, "Last-Event-ID"),
    ("a list", [1, 2], {}, 400, "must be a JSON object"),
    ("no event_ts", {"trigger": {"event_ts": None}}, {}, 422, "trigger.event_ts"),
    ("lower-case symbol", {"symbol": "nvda"}, {}, 422, "symbol"),
    ("negative buying power", {"portfolio": {"buying_power": "-1"}}, {}, 422, "portfolio.buying_power"),
    ("unknown direction", {"trigger": {"direction": "up"}}, {}, 422, "trigger.direction"),
    ("unknown required domain", {"required_domains": ["astrology"]}, {}, 422, "required_domains"),
    ("bad fault", {}, {"x-torghut-fault": "explode"}, 400, "x-torghut-fault"),
    ("bad Last-Event-ID", {}, {"Last-Event-ID": "abc"}, 400, "Last-Event-ID"),
]


async def test_bad_requests_get_a_4xx_naming_the_field(
        engine_server: EngineServer, make_body: BodyFactory) -> None:
    async with engine_server() as (base, _), httpx.AsyncClient(base_url=base, timeout=10) as client:
        for case, overrides, headers, status, names in BAD_REQUESTS:
            if isinstance(overrides, dict):
                content = json.dumps(make_body(**overrides)).encode()
            elif isinstance(overrides, str):
                content = overrides.encode()
            else:
                content = json.dumps(overrides).encode()
            response = await client.post(STREAM_PATH, content=content,
                                         headers={"content-type": "application/json", **headers})
            assert (case, response.status_code) == (case, status)
            assert names in response.json()["message"], case
        too_big = await client.post(STREAM_PATH, content=b"{" + b" " * 300_000 + b"}")
        assert too_big.status_code == 413
        nul_run = await client.get(RUNS_PATH.format(run_id="run%00x"))
        assert nul_run.status_code == 400 and nul_run.json()["error"] == "bad_path"
        assert (await client.get(RUNS_PATH.format(run_id=run_id_for("req-1")))).status_code == 404, \
            "a refused request creates no run"
