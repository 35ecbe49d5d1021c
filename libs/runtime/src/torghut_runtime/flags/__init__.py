"""Feature flags: operator switches read from a Flipt server through OpenFeature, with safe fallbacks.

The one place that owns flags. A service asks for a flag by its typed name, never a raw string::

    flags = FeatureFlags.for_service("risk-firewall", settings, load_flag_settings(), registry=registry)
    await flags.start()                      # first evaluation, then a refresh every 15 s
    if flags.value(Flag.ALLOW_SHORTS): ...   # a dict read: well under a microsecond
    await flags.stop()

:class:`Flag` is the registry: each flag's key in ``deploy/flags/features.yaml``, the service setting(s)
it stands for, its default and safe values and whether turning it away from its safe value loosens
safety. docs/feature-flags.md explains the rules; in short:

* ``TRADING_FEATURE_FLAGS_ENABLED=false`` (the default): every flag is its configured setting value
  (what the service does without flags) and no request is ever made.
* Enabled: every flag is evaluated through the OpenFeature SDK with the Flipt provider (Flipt's OFREP
  API) at start and every ``TRADING_FEATURE_FLAGS_REFRESH_INTERVAL_S``. ``value()`` reads a cache.
* A flag that cannot be evaluated (server down, timeout, 404, malformed answer) falls back to its
  configured value, each flag on its own, with a warning and ``torghut_feature_flag_fallbacks_total``.
* A flag that loosens safety starts at its safe value and leaves it only on an answer of the flag
  server, never on a fallback.
* Every change is logged with the old and new value and counted
  (``torghut_feature_flag_changes_total``).

This module does not import any service: the test suite checks each target setting exists.
"""

from __future__ import annotations

from .client import FeatureFlags, wire_flags
from .flag_settings import FeatureFlagSettings, load_flag_settings
from .metrics import FlagMetrics
from .registry import Flag, FlagSpec, Match, Target, configured_values

__all__ = [
    "FeatureFlagSettings",
    "FeatureFlags",
    "Flag",
    "FlagMetrics",
    "FlagSpec",
    "Match",
    "Target",
    "configured_values",
    "load_flag_settings",
    "wire_flags",
]
