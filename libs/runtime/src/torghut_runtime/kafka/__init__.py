"""Kafka wiring: consume -> handle -> publish -> commit, bounded retries, dead-letter topics.

:mod:`.subscriptions` declares what a service consumes and produces; :mod:`.fetching` reads the
records; :mod:`.record` and :mod:`.batch` run each in its transaction; :mod:`.publishing` and
:mod:`.dead_lettering` write what comes out.
"""

from __future__ import annotations

from .broker import build_broker
from .consuming import FetchTuning
from .messages import Handler, Inbound, Outgoing
from .publishing import CONTENT_TYPE, JSON, UndeclaredTopic
from .subscriptions import KafkaWiring

__all__ = ["CONTENT_TYPE", "JSON", "FetchTuning", "Handler", "Inbound", "KafkaWiring", "Outgoing", "UndeclaredTopic",
           "build_broker"]
