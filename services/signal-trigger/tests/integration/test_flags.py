"""Feature flags: ``torghut_trading_signal_require_quote`` flipped on the flag server changes which
signals are gated without a restart; a dead flag server puts the gate back (its safe value)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from torghut_contracts import topics
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import (
    create_topics_for,
    eventually,
    flag_features,
    flag_settings,
    flag_state,
    produce,
    test_settings,
)
from torghut_signal_trigger.app import SignalTriggerService, build_service
from torghut_signal_trigger.settings import SignalTriggerSettings
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.testing import make_signal

pytestmark = pytest.mark.timeout(120)
QUOTE = Flag.SIGNAL_REQUIRE_QUOTE.key
BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd-v1", "type": "macd_cross", "universe": "*", "cooldown_s": 0}]}, origin="test")


def counted(service: SignalTriggerService, name: str, **labels: str) -> float:
    return service.runtime.registry.get_sample_value(name, labels) or 0.0




async def test_require_quote_flag_flips_the_gate_live_and_falls_back_safe(
        kafka_bootstrap: str, topic_namespace: str, fresh_database_url: str, flags_server: FlagsServer) -> None:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, topics.TRIGGERS)
    flags_server.write(flag_features(**{QUOTE: True}))
    settings = test_settings(SignalTriggerSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=topic_namespace, clock="event", service_name="signal-trigger")
    service = build_service(settings, BOOK, configure_logs=False, flag_settings=flag_settings(flags_server.url))
    sent = 0

    async def unquoted_signal_gated() -> bool:
        nonlocal sent
        sent += 1
        before = counted(service, "torghut_signal_trigger_gated_total", reason="missing_quote")
        signal = make_signal(sent, bid=None, ask=None, spread_bps=None, macd=Decimal(1 if sent % 2 else -1))
        await produce(kafka_bootstrap, topic_namespace + topics.TA_SIGNALS.name, signal, key=signal.symbol)
        await eventually(lambda: counted(service, "torghut_signal_trigger_signals_total", source="kafka") >= sent,
                    what="the signal to be evaluated")
        return counted(service, "torghut_signal_trigger_gated_total", reason="missing_quote") > before

    async with service.runtime.running():
        await eventually(lambda: flag_state(service.runtime.registry, QUOTE) is True, what="the first flag answer")
        assert await unquoted_signal_gated()

        flags_server.write(flag_features(**{QUOTE: False}))  # no restart
        await eventually(lambda: flag_state(service.runtime.registry, QUOTE) is False, what="the flag change")
        assert not await unquoted_signal_gated()

        flags_server.stop()  # fallback: the configured (and safe) value, quotes required
        await eventually(lambda: flag_state(service.runtime.registry, QUOTE) is True, what="the fallback")
        assert await unquoted_signal_gated()
