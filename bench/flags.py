"""What reading a feature flag costs in a handler: ``FeatureFlags.value(Flag.X)`` (a cached dict read).

``uv run python -m bench.flags`` prints nanoseconds per read, beside a plain dict lookup and an
attribute read on a settings-like object measured in the same run. The target is well under 1 us.
Not part of ``make bench`` yet.
"""

from __future__ import annotations

import asyncio
import timeit
from pathlib import Path
from types import SimpleNamespace

from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag

NUMBER = 1_000_000
REPEAT = 5


def _ns_per_call(stmt: str, env: dict[str, object]) -> float:
    return min(timeit.repeat(stmt, globals=env, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e9


async def _served(features: Path) -> FeatureFlags:
    from torghut_embedded.flags_server import FlagsServer

    server = FlagsServer([features]).start()
    flags = FeatureFlags(FeatureFlagSettings(enabled=True, url=server.url, refresh_interval_s=3600),
                         {Flag.ALLOW_SHORTS: False, Flag.SIGNAL_REQUIRE_QUOTE: True})
    await flags.start()  # evaluated once; reads below hit the cache
    await flags.stop()
    server.stop()
    return flags


def main() -> None:
    configured = {Flag.ALLOW_SHORTS: False, Flag.SIGNAL_REQUIRE_QUOTE: True}
    disabled = FeatureFlags(FeatureFlagSettings(enabled=False), configured)
    features = Path(__file__).resolve().parents[1] / "deploy" / "flags" / "features.yaml"
    enabled = asyncio.run(_served(features))
    env: dict[str, object] = {"disabled": disabled, "enabled": enabled, "Flag": Flag,
                              "shorts": Flag.ALLOW_SHORTS, "plain": {"allow_shorts": False},
                              "settings": SimpleNamespace(allow_shorts=False)}
    rows = [
        ("flags.value(Flag.ALLOW_SHORTS), flags off", "disabled.value(Flag.ALLOW_SHORTS)"),
        ("flags.value(Flag.ALLOW_SHORTS), flags on (cache)", "enabled.value(Flag.ALLOW_SHORTS)"),
        ("flags.value(flag) with the member held", "enabled.value(shorts)"),
        ("baseline: dict['allow_shorts']", "plain['allow_shorts']"),
        ("baseline: settings.allow_shorts", "settings.allow_shorts"),
    ]
    print(f"feature flag reads, best of {REPEAT} x {NUMBER:,} calls")
    for label, stmt in rows:
        print(f"  {label:<52} {_ns_per_call(stmt, env):8.1f} ns/read")
    worst = max(_ns_per_call(stmt, env) for _, stmt in rows[:3])
    print(f"  worst flag read {worst:.1f} ns: {'under' if worst < 1000 else 'OVER'} the 1 us budget")


if __name__ == "__main__":
    main()
