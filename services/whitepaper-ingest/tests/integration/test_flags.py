"""Feature flags: the workflow and auto-dispatch switches flipped on the flag server take effect
without a restart (intake refused, dispatch mode reported); a dead flag server restores the settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import flag_features, flag_settings, flag_state
from torghut_whitepaper_ingest.app import WhitepaperService

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
