"""Feature flags: ``torghut_trading_lean_enabled`` flipped on the flag server changes what the next
decision request tells the engine, without a restart; a dead flag server restores the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.models import AccountSnapshot, StrategyTrigger
from torghut_decision_client.app import build_app
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.outcome import EngineOutcome, Provenance, failure
from torghut_decision_client.settings import DecisionClientSettings
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import eventually, flag_features, flag_settings, flag_state, test_settings

pytestmark = pytest.mark.timeout(120)
LEAN = Flag.LEAN_ENABLED.key


class RecordingTransport:
    name = "recording"

    def __init__(self) -> None:
        self.requests: list[DecisionRequest] = []

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        self.requests.append(request)
        return failure(reasons.ENGINE_ERROR, "recorded only", Provenance(transport=self.name))

    async def aclose(self) -> None:
        return None




async def test_lean_flag_reaches_the_next_request_live_and_falls_back_to_the_setting(
        fresh_database_url: str, flags_server: FlagsServer) -> None:
    flags_server.write(flag_features(**{LEAN: False}))
    settings = test_settings(DecisionClientSettings, kafka_bootstrap="127.0.0.1:1", database_url=fresh_database_url,
                             topic_prefix="", service_name="decision-client", decision_engine_url="http://127.0.0.1:9",
                             execution_lean_enabled=True)
    transport = RecordingTransport()
    app = build_app(settings, transport=transport, configure_logs=False, flag_settings=flag_settings(flags_server.url))
    assert app.flags is not None
    registry = app.runtime.registry
    now = datetime.now(UTC)
    snapshot = AccountSnapshot(snapshot_id="s", account=settings.torghut_account, venue="paper",
                               as_of=now - timedelta(seconds=5), equity=Decimal(100_000), cash=Decimal(100_000),
                               buying_power=Decimal(200_000), positions=[])

    async def lean_in_next_request() -> bool:
        n = len(transport.requests)
        trigger = StrategyTrigger(request_id=f"req-{n}", strategy_id="macd-rsi-v1", symbol="NVDA", direction="buy",
                                  trigger_type="macd_cross_up", event_ts=now, signal_seq=n, price=Decimal(160),
                                  features={"macd": Decimal("1.2")}, triggered_at=now)
        await app.handlers._decide(trigger, snapshot)
        return transport.requests[-1].execution_context.lean_enabled

    await app.flags.start()
    try:
        await eventually(lambda: flags_server.flags.requests > 0 and flag_state(registry, LEAN) is False,
                         what="first answer")
        assert await lean_in_next_request() is False

        flags_server.write(flag_features(**{LEAN: True}))  # no restart
        await eventually(lambda: flag_state(registry, LEAN) is True, what="the flag change")
        assert await lean_in_next_request() is True

        flags_server.write(flag_features(**{LEAN: False}))
        await eventually(lambda: flag_state(registry, LEAN) is False, what="the flag change back")
        flags_server.stop()  # fallback: the configured value (EXECUTION_LEAN_ENABLED=true)
        await eventually(lambda: flag_state(registry, LEAN) is True, what="the fallback")
        assert await lean_in_next_request() is True
    finally:
        await app.flags.stop()
        await app.runtime.engine.dispose()
