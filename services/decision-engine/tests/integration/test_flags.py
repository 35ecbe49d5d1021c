"""Feature flags: ``torghut_trading_market_context_required`` flipped on the flag server changes the
skill domains a run requires without a restart; a dead flag server puts the requirement back (safe)."""

from __future__ import annotations

from typing import Any

import pytest
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import eventually, flag_features, flag_settings, flag_state

pytestmark = pytest.mark.timeout(120)
CONTEXT = Flag.MARKET_CONTEXT_REQUIRED.key




async def test_market_context_flag_changes_required_domains_live_and_falls_back_safe(
        engine_server: Any, flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{CONTEXT: True}))
    async with engine_server(flag_settings=flag_settings(flags_server.url),
                             decision_engine_strategy_required_domains={"pinned": ["market-context"]}) as (_, engine):
        registry, required = engine.runtime.registry, engine.manager.policy.required_by_strategy
        await eventually(lambda: flags_server.flags.requests > 0, what="the first evaluation")
        assert "market-context" in required("macd-v1")

        flags_server.write(flag_features(**{CONTEXT: False}))  # no restart
        await eventually(lambda: flag_state(registry, CONTEXT) is False, what="the flag change")
        assert "market-context" not in required("macd-v1")
        assert "market-context" in required("pinned"), "a strategy's own list is not the flag's"

        flags_server.stop()  # fallback: the safe value, market context required
        await eventually(lambda: flag_state(registry, CONTEXT) is True, what="the fallback")
        assert "market-context" in required("macd-v1")
