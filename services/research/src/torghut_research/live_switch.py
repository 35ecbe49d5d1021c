"""The operator's live-promotion switch, read the way every service reads its flags.

Without feature flags (``TRADING_FEATURE_FLAGS_ENABLED`` unset or false) it is the environment's
``TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION=true``, as before. With them, the flag server decides, in
one evaluation for this run: the flag loosens safety, so an answer the lane cannot get (server down,
timeout, unknown flag) leaves it off, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from .errors import InputError

LIVE_SWITCH_ENV = "TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION"


def live_switch_on(environ: Mapping[str, str] | None = None) -> bool:
    env = dict(os.environ if environ is None else environ)
    if env.get("TRADING_FEATURE_FLAGS_ENABLED", "").strip().lower() not in ("1", "true", "yes", "on"):
        return env.get(LIVE_SWITCH_ENV, "").strip().lower() == "true"
    from torghut_runtime import ConfigError
    from torghut_runtime.flags import FeatureFlags, Flag, load_flag_settings

    prefix = "TRADING_FEATURE_FLAGS_"
    try:
        flag_settings = load_flag_settings(**{k[len(prefix):].lower(): v for k, v in env.items()
                                              if k.startswith(prefix)})
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    flags = FeatureFlags.for_service("research", env, flag_settings)

    async def decide() -> bool:
        await flags.start()
        try:
            return flags.value(Flag.ALLOW_LIVE_PROMOTION)
        finally:
            await flags.stop()

    return asyncio.run(decide())
