"""Feature-flag settings: defaults, errors naming the variable, the configured values read from each
service's settings; and with flags disabled, today's behaviour exactly (the configured values, the
server never asked)."""

from __future__ import annotations

import pytest
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime import ConfigError
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag, configured_values, load_flag_settings

from .conftest import FEED, QUOTE, SHORTS, features, start

pytestmark = pytest.mark.timeout(60)


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
