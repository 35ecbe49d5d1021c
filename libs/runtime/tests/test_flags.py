"""FeatureFlags against the embedded Flipt-compatible server, through OpenFeature and the Flipt provider.

No timed assertions: a change is waited for by polling, with a generous deadline.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime import ConfigError
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag, configured_values, load_flag_settings

pytestmark = pytest.mark.timeout(60)

SHORTS, QUOTE, FEED = Flag.ALLOW_SHORTS, Flag.SIGNAL_REQUIRE_QUOTE, Flag.ORDER_FEED_ENABLED


def features(**values: bool) -> str:
    lines = ["namespace: default", "flags:"]
    for key, enabled in values.items():
        lines += [f"  - key: {key}", "    type: BOOLEAN_FLAG_TYPE", f"    enabled: {str(enabled).lower()}"]
    return "\n".join(lines) + "\n"


def settings(url: str | None, **kw: Any) -> FeatureFlagSettings:
    return FeatureFlagSettings(enabled=True, url=url, refresh_interval_s=kw.pop("refresh_interval_s", 0.05),
                               timeout_ms=kw.pop("timeout_ms", 500), **kw)


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running() -> AsyncIterator[list[FeatureFlags]]:
    """Collects FeatureFlags a test starts, and stops them after it."""
    started: list[FeatureFlags] = []
    yield started
    for flags in started:
        await flags.stop()


async def start(started: list[FeatureFlags], flags: FeatureFlags) -> FeatureFlags:
    started.append(flags)
    await flags.start()
    return flags


# -- settings ------------------------------------------------------------------------------------


def test_settings_defaults_and_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENABLED", "URL", "NAMESPACE", "ENTITY_ID", "TIMEOUT_MS", "REFRESH_INTERVAL_S", "TOKEN"):
        monkeypatch.delenv(f"TRADING_FEATURE_FLAGS_{name}", raising=False)
    defaults = load_flag_settings()
    assert (defaults.enabled, defaults.url, defaults.namespace, defaults.entity_id, defaults.timeout_ms,
            defaults.refresh_interval_s) == (False, None, "default", "torghut", 500, 15.0)

    monkeypatch.setenv("TRADING_FEATURE_FLAGS_URL", "ftp://flags:8013")
    with pytest.raises(ConfigError, match=r"TRADING_FEATURE_FLAGS_URL .*must be an http"):
        load_flag_settings()
    monkeypatch.delenv("TRADING_FEATURE_FLAGS_URL")
    monkeypatch.setenv("TRADING_FEATURE_FLAGS_ENABLED", "true")
    with pytest.raises(ConfigError, match=r"TRADING_FEATURE_FLAGS_URL .*required when TRADING_FEATURE_FLAGS_ENABLED"):
        load_flag_settings()
    monkeypatch.setenv("TRADING_FEATURE_FLAGS_URL", "http://feature-flags:8013/")
    monkeypatch.setenv("TRADING_FEATURE_FLAGS_TIMEOUT_MS", "0")
    with pytest.raises(ConfigError, match="TRADING_FEATURE_FLAGS_TIMEOUT_MS"):
        load_flag_settings()
    monkeypatch.setenv("TRADING_FEATURE_FLAGS_TIMEOUT_MS", "250")
    loaded = load_flag_settings()
    assert (loaded.enabled, loaded.url, loaded.timeout_ms) == (True, "http://feature-flags:8013", 250)


def test_configured_values_read_the_service_settings() -> None:
    class Limits:
        allow_shorts = True
        allow_extended_hours = False
        allow_fractional = False
        clamp_enabled = True

    class RiskSettings:
        risk_limits = Limits()

    assert configured_values("risk-firewall", RiskSettings()) == {
        Flag.ALLOW_SHORTS: True, Flag.ALLOW_EXTENDED_HOURS: False, Flag.ALLOW_FRACTIONAL: False,
        Flag.RISK_CLAMP_ENABLED: True}
    assert configured_values("research", {"TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION": "TRUE"}) == {
        Flag.ALLOW_LIVE_PROMOTION: True}
    assert configured_values("research", {}) == {Flag.ALLOW_LIVE_PROMOTION: False}

    class EngineSettings:
        decision_engine_required_domains = ["technicals-regime"]

    assert configured_values("decision-engine", EngineSettings()) == {Flag.MARKET_CONTEXT_REQUIRED: False}


# -- disabled: today's behaviour exactly --------------------------------------------------------


async def test_disabled_returns_configured_values_and_never_asks(flags_server: FlagsServer,
                                                                 running: list[FeatureFlags]) -> None:
    flags_server.write(features(torghut_trading_allow_shorts=False, torghut_trading_signal_require_quote=False))
    off = FeatureFlagSettings(enabled=False, url=flags_server.url)
    flags = await start(running, FeatureFlags(off, {SHORTS: True, QUOTE: True}))
    assert (flags.value(SHORTS), flags.value(QUOTE)) == (True, True)  # a loosening value too: it is the config
    await flags.refresh()
    assert flags_server.flags.requests == 0
    with pytest.raises(KeyError, match="ORDER_FEED_ENABLED"):
        flags.value(FEED)


# -- enabled -------------------------------------------------------------------------------------


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


# -- answers the provider would otherwise take at face value --------------------------------------


class _Misbehaving(BaseHTTPRequestHandler):
    mode = "no-value"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "slow":
            time.sleep(1.0)
        key = self.path.rsplit("/", 1)[-1]
        body = {"no-value": {"key": key, "reason": "DEFAULT", "variant": "x", "metadata": {}},
                "string-value": {"key": key, "reason": "DEFAULT", "variant": "x", "value": "true", "metadata": {}},
                "not-json": "<html>proxy error</html>",
                "slow": {"key": key, "reason": "DEFAULT", "variant": "false", "value": False, "metadata": {}},
                }[self.mode]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (the timeout case)
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def misbehaving() -> Iterator[Callable[[str], str]]:
    servers: list[ThreadingHTTPServer] = []

    def make(mode: str) -> str:
        handler = type("Handler", (_Misbehaving,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("mode", "reason"), [("no-value", "malformed"), ("string-value", "malformed"),
                                              ("not-json", "malformed"), ("slow", "timeout")])
async def test_malformed_or_slow_answers_fall_back(misbehaving: Callable[[str], str], running: list[FeatureFlags],
                                                   mode: str, reason: str) -> None:
    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(misbehaving(mode), timeout_ms=100), {FEED: True},
                                              registry=registry))
    assert flags.value(FEED) is True
    assert flags.source(FEED) == "fallback"
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=FEED.key, reason=reason) == 1
