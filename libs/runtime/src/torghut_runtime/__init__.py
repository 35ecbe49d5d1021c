"""What every Torghut service needs, written once."""

from .kafka import Inbound, KafkaWiring, Outgoing
from .service import ServiceRuntime
from .settings import ConfigError, ServiceSettings, load_settings

__all__ = ["ConfigError", "Inbound", "KafkaWiring", "Outgoing", "ServiceRuntime", "ServiceSettings",
           "load_settings"]
