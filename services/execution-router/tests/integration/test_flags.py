"""Feature flags: ``torghut_trading_lean_enabled`` flipped on the flag server moves the next order off or
onto the LEAN runner without a restart; a dead flag server restores the configured routing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import flag_features, flag_settings, flag_state

pytestmark = pytest.mark.timeout(120)
LEAN = Flag.LEAN_ENABLED.key


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_lean_routing_flag_flips_the_venue_live_and_falls_back_to_the_settings(
        offline_router: Any, fake_lean: Any, make_messages: Any, flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{LEAN: True}))
    service = await offline_router(
        execution_primary_adapter="lean", lean_runner_url=fake_lean.base_url, execution_fallback_adapter="paper",
        execution_lean_symbols="NVDA", flag_settings=flag_settings(flags_server.url))
    registry = service.runtime.registry
    await service.store.save_control(make_messages["control"]())
    sent = 0

    async def venue_of_next_order() -> Adapter:
        nonlocal sent
        sent += 1
        approved = make_messages["approved"](f"coid-flag-{sent}")
        async with service.runtime.engine.begin() as conn:
            await service.router.on_approved(make_messages["inbound"](approved, topics.ORDERS_APPROVED.name), conn)
        execution = await service.store.get(approved.client_order_id)
        return Adapter(execution.venue)

    await service.flags.start()
    try:
        await until(lambda: flags_server.flags.requests > 0 and flag_state(registry, LEAN) is True, "first answer")
        assert await venue_of_next_order() is Adapter.LEAN

        flags_server.write(flag_features(**{LEAN: False}))  # no restart
        await until(lambda: flag_state(registry, LEAN) is False, "the flag change")
        assert await venue_of_next_order() is Adapter.PAPER

        flags_server.stop()  # fallback: the configured value (EXECUTION_PRIMARY_ADAPTER=lean)
        await until(lambda: flag_state(registry, LEAN) is True, "the fallback")
        assert await venue_of_next_order() is Adapter.LEAN
    finally:
        await service.flags.stop()
