"""FeatureFlags against the embedded Flipt-compatible server, through OpenFeature and the Flipt provider.

Server values override the configured ones and changes arrive within the interval; a missing flag
falls back alone; a stopped server means fallbacks, then recovery; change callbacks hear every flip;
a fallback never loosens a flag; an unreachable server at start and a bad token mean fallbacks.
No timed assertions: a change is waited for by polling, with a generous deadline.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import FeatureFlags, Flag

from .conftest import FEED, QUOTE, SHORTS, counter, features, settings, start, wait_for

pytestmark = pytest.mark.timeout(60)


async def test_server_values_override_and_changes_arrive_within_the_interval(
        flags_server: FlagsServer, running: list[FeatureFlags]) -> None:
    flags_server.write(features(torghut_trading_allow_shorts=True, torghut_trading_signal_require_quote=True))
    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(flags_server.url), {SHORTS: False, QUOTE: True},
                                              service="risk-firewall", registry=registry))
    # start() evaluated once already
    assert (flags.value(SHORTS), flags.value(QUOTE)) == (True, True)
    assert flags.source(SHORTS) == "server"
    assert counter(registry, "torghut_feature_flag_changes_total", flag=SHORTS.key, source="server") == 1

    flags_server.write(features(torghut_trading_allow_shorts=False, torghut_trading_signal_require_quote=False))
    await wait_for(lambda: not flags.value(SHORTS) and not flags.value(QUOTE), "the edited file to reach the flags")
    assert counter(registry, "torghut_feature_flag_changes_total", flag=QUOTE.key, source="server") == 1
    assert registry.get_sample_value("torghut_feature_flag_value", {"flag": QUOTE.key}) == 0
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=QUOTE.key, reason="not_found") == 0


async def test_one_missing_flag_falls_back_alone(flags_server: FlagsServer, running: list[FeatureFlags]) -> None:
    flags_server.write(features(torghut_trading_signal_require_quote=False))  # no order-feed flag in the file
    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(flags_server.url), {QUOTE: True, FEED: True},
                                              registry=registry))
    assert flags.value(QUOTE) is False  # answered
    assert flags.value(FEED) is True  # 404: its configured value
    assert flags.source(FEED) == "fallback"
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=FEED.key, reason="not_found") >= 1
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=QUOTE.key, reason="not_found") == 0


async def test_server_stopped_mid_run_values_fall_back_and_recover(
        flags_server: FlagsServer, running: list[FeatureFlags]) -> None:
    flags_server.write(features(torghut_trading_order_feed_enabled=True, torghut_trading_signal_require_quote=False))
    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(flags_server.url), {FEED: True, QUOTE: True},
                                              registry=registry))
    assert (flags.value(FEED), flags.value(QUOTE)) == (True, False)

    def fallbacks(flag: Flag) -> float:
        return counter(registry, "torghut_feature_flag_fallbacks_total", flag=flag.key, reason="unavailable")

    flags_server.stop()
    await wait_for(lambda: fallbacks(FEED) >= 2 and fallbacks(QUOTE) >= 2, "fallbacks while the server is down")
    assert flags.value(FEED) is True  # its configured value, which it already had: unchanged
    assert flags.value(QUOTE) is True  # back to its configured value
    assert counter(registry, "torghut_feature_flag_changes_total", flag=QUOTE.key, source="fallback") == 1

    flags_server.start()
    await wait_for(lambda: flags.source(QUOTE) == "server" and flags.value(QUOTE) is False, "recovery")


async def test_change_callbacks_hear_every_flip_and_a_broken_one_stops_nothing(
        flags_server: FlagsServer, running: list[FeatureFlags]) -> None:
    flags_server.write(features(torghut_trading_order_feed_enabled=True, torghut_trading_signal_require_quote=True))
    flags = FeatureFlags(settings(flags_server.url), {FEED: False, QUOTE: True})
    heard: list[bool] = []

    def broken(value: bool) -> None:
        raise RuntimeError("a watcher with a bug")

    flags.on_change(FEED, broken)
    flags.on_change(FEED, heard.append)
    with pytest.raises(KeyError, match="ALLOW_SHORTS"):
        flags.on_change(SHORTS, heard.append)  # not one of these flags
    await start(running, flags)
    assert heard == [True]  # the first answer changed it (configured: off); the broken watcher did not stop it

    flags_server.write(features(torghut_trading_order_feed_enabled=False, torghut_trading_signal_require_quote=True))
    await wait_for(lambda: heard == [True, False], "the flip to reach the callback")
    flags_server.stop()  # fallback: the configured value, off, which it already is: no call
    await wait_for(lambda: flags.source(FEED) == "fallback", "the fallback")
    flags_server.start()
    flags_server.write(features(torghut_trading_order_feed_enabled=True, torghut_trading_signal_require_quote=True))
    await wait_for(lambda: heard == [True, False, True], "the flip back")
    assert flags.value(FEED) is True


async def test_a_fallback_never_moves_a_loosening_flag_off_its_safe_value(
        flags_server: FlagsServer, running: list[FeatureFlags]) -> None:
    assert SHORTS.spec.loosens_safety and SHORTS.spec.safe is False
    registry = CollectorRegistry()
    # Configured loose (ALLOW_SHORTS=true), and the server does not know the flag: it stays safe.
    flags = await start(running, FeatureFlags(settings(flags_server.url), {SHORTS: True}, registry=registry))
    assert flags.value(SHORTS) is False
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=SHORTS.key, reason="not_found") >= 1
    # Only an answer of the server loosens it.
    flags_server.write(features(torghut_trading_allow_shorts=True))
    await wait_for(lambda: flags.value(SHORTS) is True, "the server's answer")
    # The server tightens it; then goes away: the fallback (configured: loose) must not loosen it again.
    flags_server.write(features(torghut_trading_allow_shorts=False))
    await wait_for(lambda: flags.value(SHORTS) is False, "the server's answer")
    flags_server.stop()
    before = counter(registry, "torghut_feature_flag_fallbacks_total", flag=SHORTS.key, reason="unavailable")
    await wait_for(lambda: counter(registry, "torghut_feature_flag_fallbacks_total", flag=SHORTS.key,
                                   reason="unavailable") >= before + 3, "fallbacks")
    assert flags.value(SHORTS) is False


async def test_unreachable_at_start_uses_fallbacks(running: list[FeatureFlags]) -> None:
    from torghut_embedded.processes import free_port

    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(f"http://127.0.0.1:{free_port()}"),
                                              {QUOTE: False, FEED: True}, registry=registry))
    # QUOTE loosens safety (safe: true); configured false is not taken on a fallback
    assert (flags.value(QUOTE), flags.value(FEED)) == (True, True)
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=FEED.key, reason="unavailable") == 1


async def test_bearer_token(tmp_path: Any, running: list[FeatureFlags]) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(features(torghut_trading_order_feed_enabled=False))
    with FlagsServer([path], tokens=["tok"]) as server:
        good = await start(running, FeatureFlags(settings(server.url, token="tok"), {FEED: True}))
        assert good.value(FEED) is False
        registry = CollectorRegistry()
        bad = await start(running, FeatureFlags(settings(server.url, token="nope"), {FEED: True}, registry=registry))
        assert bad.value(FEED) is True
        assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=FEED.key, reason="unauthorized") == 1
