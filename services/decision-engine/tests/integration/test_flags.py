"""Feature flags: ``torghut_trading_market_context_required`` flipped on the flag server changes the
skill domains a run requires without a restart; a dead flag server puts the requirement back (safe)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import flag_features, flag_settings, flag_state

pytestmark = pytest.mark.timeout(120)
CONTEXT = Flag.MARKET_CONTEXT_REQUIRED.key


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_market_context_flag_changes_required_domains_live_and_falls_back_safe(
        engine_server: Any, flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{CONTEXT: True}))
    async with engine_server(flag_settings=flag_settings(flags_server.url),
                             decision_engine_strategy_required_domains={"pinned": ["market-context"]}) as (_, engine):
        registry, required = engine.runtime.registry, engine.manager.policy.required_by_strategy
        await until(lambda: flags_server.flags.requests > 0, "the first evaluation")
        assert "market-context" in required("macd-v1")

        flags_server.write(flag_features(**{CONTEXT: False}))  # no restart
        await until(lambda: flag_state(registry, CONTEXT) is False, "the flag change")
        assert "market-context" not in required("macd-v1")
        assert "market-context" in required("pinned"), "a strategy's own list is not the flag's"

        flags_server.stop()  # fallback: the safe value, market context required
        await until(lambda: flag_state(registry, CONTEXT) is True, "the fallback")
        assert "market-context" in required("macd-v1")
