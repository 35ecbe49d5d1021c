"""What every Torghut service needs, written once."""

from .commit_hooks import after_commit
from .kafka import Inbound, KafkaWiring, Outgoing
from .service import ServiceRuntime
from .settings import ConfigError, ServiceSettings, load_settings

__all__ = ["ConfigError", "Inbound", "KafkaWiring", "Outgoing", "ServiceRuntime", "ServiceSettings",
           "after_commit", "load_settings"]
