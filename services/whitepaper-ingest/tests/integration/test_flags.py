"""Feature flags: the workflow and auto-dispatch switches flipped on the flag server take effect
without a restart (intake refused, dispatch mode reported, the issue-event worker held or released); a
dead flag server restores the settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from torghut_contracts import topics
from torghut_contracts.models import GithubIssueEvent
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import FeatureFlagSettings, Flag
from torghut_runtime.testing import flag_features, flag_settings, flag_state, produce
from torghut_whitepaper_ingest.adapters.webhook import issue_event_headers
from torghut_whitepaper_ingest.app import WhitepaperService
from torghut_whitepaper_ingest.domain.webhook import issue_event
from torghut_whitepaper_ingest.testing import StubHttpServer, agentrun_created, issue_body, issues_payload, pdf_reply

pytestmark = pytest.mark.timeout(120)
WORKFLOW, DISPATCH = Flag.WHITEPAPER_WORKFLOW_ENABLED.key, Flag.WHITEPAPER_AUTO_DISPATCH.key
AUTH = {"Authorization": "Bearer control-test-token"}


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_workflow_flags_flip_live_and_fall_back_to_the_settings(
        make_service: Callable[..., WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
        flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{WORKFLOW: True, DISPATCH: True}))
    service = make_service(flag_settings=flag_settings(flags_server.url))  # settings: both on
    registry = service.runtime.registry

    async def status() -> dict[str, Any]:
        r = await client_for(service).get("/whitepapers/status", headers=AUTH)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def replay_refused() -> bool:
        r = await client_for(service).post("/whitepapers/events/github-issue", json={"action": "opened"},
                                           headers=AUTH)
        return bool(r.json().get("reason") == "workflow_disabled")

    async with service.runtime.running():
        await until(lambda: flags_server.flags.requests > 0 and flag_state(registry, DISPATCH) is True, "first answer")
        assert (await status())["agentrun_auto_dispatch"] is True and not await replay_refused()

        flags_server.write(flag_features(**{WORKFLOW: False, DISPATCH: False}))  # no restart
        await until(lambda: flag_state(registry, WORKFLOW) is False and flag_state(registry, DISPATCH) is False,
                    "the flag change")
        assert service.workflow.auto_dispatch is False
        assert (await status())["workflow_enabled"] is False and await replay_refused()

        flags_server.stop()  # fallback: the configured values (neither flag loosens safety)
        await until(lambda: flag_state(registry, WORKFLOW) is True and flag_state(registry, DISPATCH) is True,
                    "the fallback")
        assert (await status())["agentrun_auto_dispatch"] is True and not await replay_refused()


async def committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset on the topic's one partition (0: nothing committed)."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        return await probe.committed(TopicPartition(topic, 0)) or 0
    finally:
        await probe.stop()


async def test_the_worker_follows_the_workflow_flag_and_holds_events_on_the_topic_while_it_is_off(
        make_service: Callable[..., WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
        flags_server: FlagsServer, stub_http: StubHttpServer, kafka_bootstrap: str, wp_topics: str) -> None:
    stub_http.route("GET", "/papers/held.pdf", pdf_reply())
    stub_http.route("POST", "/v1/agent-runs", agentrun_created("wp-held"))
    topic = wp_topics + topics.GITHUB_ISSUE_EVENTS.name
    group = wp_topics + f"whitepaper-ingest.{topics.GITHUB_ISSUE_EVENTS.name}"
    flags_server.write(flag_features(**{WORKFLOW: False}))
    # The setting is off: only the flag can turn the workflow on, so the worker must be there anyway.
    service = make_service(whitepaper_workflow_enabled=False, flag_settings=flag_settings(flags_server.url))

    def count(outcome: str, svc: WhitepaperService = service) -> float:
        return svc.runtime.metrics.messages.labels(topic=topics.GITHUB_ISSUE_EVENTS.name, outcome=outcome)._value.get()

    def held(svc: WhitepaperService = service) -> float | None:
        return svc.runtime.registry.get_sample_value("torghut_consumer_records_held")

    async def status(svc: WhitepaperService = service) -> dict[str, Any]:
        return dict((await client_for(svc).get("/whitepapers/status", headers=AUTH)).json())

    async def put_on_topic(number: int) -> None:
        """An event on the topic as the webhook puts it (accepted before a flip, or by another replica)."""
        payload = issues_payload("proompteng/lab", number, issue_body(stub_http.url("/papers/held.pdf")))
        event = issue_event("issues", f"delivery-{number}", payload, datetime.now(UTC))
        assert isinstance(event, GithubIssueEvent)
        await produce(kafka_bootstrap, topic, event, key=topics.GITHUB_ISSUE_EVENTS.key(event),
                      headers=issue_event_headers(event))

    async with service.runtime.running():
        await until(lambda: flags_server.flags.requests > 0 and flag_state(service.runtime.registry, WORKFLOW)
                    is False, "first answer")
        assert (await status())["worker_registered"] is True and (await status())["worker_running"] is False
        await put_on_topic(1)
        await until(lambda: held() == 1, "the event to be fetched and held")
        assert (count("processed"), count("dead_lettered")) == (0, 0)
        assert await committed(kafka_bootstrap, group, topic) == 0, "no offset committed past a held event"

        flags_server.write(flag_features(**{WORKFLOW: True}))  # no restart
        await until(lambda: count("processed") == 1, "the held event to be handled")
        assert held() == 0 and (await status())["worker_running"] is True
        await until(lambda: len(stub_http.requests_to("POST", "/v1/agent-runs")) == 1, "the run dispatched")

        flags_server.write(flag_features(**{WORKFLOW: False}))
        await until(lambda: flag_state(service.runtime.registry, WORKFLOW) is False, "the flip back")
        await put_on_topic(2)
        await until(lambda: held() == 1, "the second event to be held")
        # stopping while an event is held is not blocked by it (the timeout of this test bounds it)
    assert await committed(kafka_bootstrap, group, topic) == 1
    assert count("processed") == 1 and count("dead_lettered") == 0

    flags_server.write(flag_features(**{WORKFLOW: True}))
    restarted = make_service(whitepaper_workflow_enabled=False, flag_settings=flag_settings(flags_server.url))
    async with restarted.runtime.running():  # the held event waited on the topic: handled now
        await until(lambda: count("processed", restarted) == 1, "the event held over the restart")
        await until(lambda: held(restarted) == 0, "nothing held")
        await until(lambda: len(stub_http.requests_to("POST", "/v1/agent-runs")) == 2, "its run dispatched")
    assert await committed(kafka_bootstrap, group, topic) == 2
    assert len(stub_http.requests_to("POST", "/v1/agent-runs")) == 2


async def test_with_flags_disabled_the_worker_is_there_by_the_setting_alone(
        make_service: Callable[..., WhitepaperService], client_for: Callable[[WhitepaperService], httpx.AsyncClient],
        flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{WORKFLOW: True}))
    disabled = FeatureFlagSettings(enabled=False, url=flags_server.url)
    off = make_service(whitepaper_workflow_enabled=False, flag_settings=disabled)
    on = make_service(whitepaper_workflow_enabled=True, flag_settings=disabled)
    assert off.worker_gate is None and on.worker_gate is None
    for service, registered in ((off, False), (on, True)):
        async with service.runtime.running():
            status = (await client_for(service).get("/whitepapers/status", headers=AUTH)).json()
        assert (status["worker_registered"], status["worker_running"]) == (registered, registered)
    assert flags_server.flags.requests == 0
