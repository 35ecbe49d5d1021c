"""Hostile and mistaken requests get a 4xx that says what is wrong; a malformed message is dead-lettered and counted."""

from __future__ import annotations

import httpx
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_runtime.testing import eventually, produce

from .conftest import ConsoleFactory


async def test_unknown_and_malformed_correlation_ids_are_told_apart(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        unknown = await client.get("/chain/no-such-chain")
        assert unknown.status_code == 404 and "no message with correlation id no-such-chain" in unknown.text
        malformed = await client.get("/chain/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert malformed.status_code == 400 and "<script>" not in malformed.text
        assert (await client.get("/chain/" + "a" * 200)).status_code == 400
        hops = await client.get("/hops/%3Cscript%3E")
        assert hops.status_code == 400 and "correlation id is letters" in hops.text
        assert (await client.get("/hops/no-such-chain")).status_code == 200  # a chain not read yet is empty, not lost


async def test_malformed_query_parameters_are_refused_naming_the_parameter(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        cases = {"/decisions?limit=abc": "limit", "/decisions?limit=0": "limit", "/decisions?limit=100000": "limit",
                 "/decisions?symbol=aapl": "symbol", "/decisions?outcome=maybe": "outcome",
                 "/decisions?sort=desc": "sort", "/account?x=1": "x"}
        for path, named in cases.items():
            response = await client.get(path)
            assert response.status_code == 400, path
            assert named in response.text, path
        assert (await client.get("/decisions?symbol=NVDA&outcome=veto&limit=5")).status_code == 200
        bad_stream = await client.get("/events?panels=pipeline,secrets")
        assert bad_stream.status_code == 400 and "panels must list" in bad_stream.text
        assert (await client.get("/events")).status_code == 400


async def test_a_malformed_message_goes_to_the_dead_letter_topic_and_shows_with_its_reason(
        console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        await produce(running.bootstrap, running.prefix + topics.DECISIONS.name, b'{"decision_id": 1',
                      key="paper-main", headers=MessageHeaders.new(topics.DECISIONS.name))

        async def counted() -> bool:
            page = (await client.get("/")).text
            return topics.DECISIONS.dlq.name in page and ">malformed<" in page
        await eventually(counted, what="the dead letter on the pipeline page", timeout=30)


async def test_a_huge_form_is_refused_before_it_is_read(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        response = await client.post("/login", content=b"a=" + b"x" * 3_000_000,
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 413
        assert isinstance(response, httpx.Response)
