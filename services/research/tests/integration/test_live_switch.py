"""The live-promotion switch through the flag server: the server turns it on; no answer leaves it off."""

from __future__ import annotations

from torghut_embedded.flags_server import FlagsServer
from torghut_research.live_switch import live_switch_on

FEATURES = """version: "1.2"
namespace: default
flags:
  - key: torghut_trading_autonomy_allow_live_promotion
    name: Live promotion allowed
    type: BOOLEAN_FLAG_TYPE
    enabled: {enabled}
"""


def env(url: str, **extra: str) -> dict[str, str]:
    return {"TRADING_FEATURE_FLAGS_ENABLED": "true", "TRADING_FEATURE_FLAGS_URL": url,
            "TRADING_FEATURE_FLAGS_TIMEOUT_MS": "300", **extra}


def test_without_flags_the_environment_decides() -> None:
    assert live_switch_on({"TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION": "true"})
    assert not live_switch_on({})


def test_with_flags_the_server_decides_and_no_answer_is_off(flags_server: FlagsServer) -> None:
    flags_server.write(FEATURES.format(enabled="true"))
    assert live_switch_on(env(flags_server.url))
    flags_server.write(FEATURES.format(enabled="false"))
    assert not live_switch_on(env(flags_server.url, TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION="true")), \
        "the server's off wins over the environment"
    url = flags_server.url
    flags_server.stop()
    assert not live_switch_on(env(url, TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION="true")), \
        "a loosening flag the lane cannot evaluate stays at its safe value"
