"""What every Torghut service needs, written once.

The names below load on first use: a tool that needs one small module (the operator CLI reads
topic windows through :mod:`.topic_window`) does not pay for FastStream, SQLAlchemy and
OpenTelemetry at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commit_hooks import after_commit
    from .kafka import Inbound, KafkaWiring, Outgoing
    from .lane_topics import Gate
    from .service import ServiceRuntime
    from .settings import ConfigError, ServiceSettings, load_settings

_HOME = {"after_commit": "commit_hooks", "Gate": "lane_topics", "Inbound": "kafka", "KafkaWiring": "kafka",
         "Outgoing": "kafka", "ServiceRuntime": "service", "ConfigError": "settings", "ServiceSettings": "settings",
         "load_settings": "settings"}

__all__ = ["ConfigError", "Gate", "Inbound", "KafkaWiring", "Outgoing", "ServiceRuntime", "ServiceSettings",
           "after_commit", "load_settings"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'torghut_runtime' has no attribute {name!r}")
    return getattr(import_module(f".{_HOME[name]}", __name__), name)
