"""Feature flags: flipping ``torghut_trading_allow_shorts`` on the flag server changes the firewall's
verdicts without a restart, and the operator's ``/limits`` view with them; a dead flag server puts the
loosened limit back to its safe value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from torghut_contracts import topics
from torghut_contracts.enums import VerdictOutcome
from torghut_embedded.flags_server import FlagsServer
from torghut_risk_firewall.app import build_runtime
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.settings import RiskFirewallSettings
from torghut_risk_firewall.testing import decision
from torghut_runtime import ServiceRuntime
from torghut_runtime.flags import Flag
from torghut_runtime.testing import eventually, flag_features, flag_settings, flag_state, read_records, test_settings
from torghut_runtime.tracing import build_tracer_provider

pytestmark = pytest.mark.timeout(120)
SHORTS = Flag.ALLOW_SHORTS.key


async def test_allow_shorts_flag_flips_verdicts_live_and_falls_back_safe(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, flags_server: FlagsServer,
        send: Callable[..., Awaitable[None]], open_market: Callable[[ServiceRuntime], Awaitable[None]]) -> None:
    flags_server.write(flag_features(**{SHORTS: False}))
    settings = test_settings(RiskFirewallSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=prefix, service_name="risk-firewall", clock="event",
                             risk_limits=RiskLimits(cooldown_s=0))
    firewall = build_runtime(settings, flag_settings=flag_settings(flags_server.url),
                             tracer_provider=build_tracer_provider("risk-firewall", None), configure_logs=False)
    seen = 0

    async def judge(decision_id: str) -> list[str]:
        nonlocal seen
        await send(topics.DECISIONS, decision("sell", qty=5, decision_id=decision_id))
        seen += 1
        records = await read_records(kafka_bootstrap, prefix + topics.RISK_VERDICTS.name, expect=seen)
        verdict = next(v for v in (rec.model(topics.RISK_VERDICTS) for rec in records) if v.decision_id == decision_id)
        return [] if verdict.outcome is VerdictOutcome.APPROVE else verdict.reason_codes

    async def limits() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=firewall.asgi()), base_url="http://fw") as c:
            view: dict[str, Any] = (await c.get("/api/risk/v1/limits")).json()
            return view

    def shorts(view: dict[str, Any]) -> tuple[bool, str]:
        assert view["sources"]["allow_shorts"]["configured"] is False
        return view["allow_shorts"], view["sources"]["allow_shorts"]["source"]

    async def answered() -> bool:
        return shorts(await limits()) == (False, "flag server")

    async with firewall.running():
        await open_market(firewall)
        # off before the first answer too (its safe value): wait until the view says the server answered
        await eventually(answered, what="the first flag answer")
        assert r.SHORTS_NOT_ALLOWED in await judge("short-1")
        view = await limits()
        assert shorts(view) == (False, "flag server")
        # not in the served file: the flag server has no answer, so the configured value (clamp on)
        assert (view["clamp_enabled"], view["sources"]["clamp_enabled"]["source"]) == (True, "fallback")

        flags_server.write(flag_features(**{SHORTS: True}))  # no restart
        await eventually(lambda: _is(firewall, True), what="the flag change")
        assert await judge("short-2") == []
        assert shorts(await limits()) == (True, "flag server"), "the view shows the limit in force"

        flags_server.stop()  # fallback: the configured value (off), never the loosened one
        await eventually(lambda: _is(firewall, False), what="the fallback")
        assert r.SHORTS_NOT_ALLOWED in await judge("short-3")
        assert shorts(await limits()) == (False, "fallback")


async def _is(runtime: ServiceRuntime, value: bool) -> bool:
    return flag_state(runtime.registry, SHORTS) is value
