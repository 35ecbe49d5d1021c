"""The service's FastStream broker: one producer, Prometheus and OpenTelemetry middlewares."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from ..dead_letters import PRODUCER_MAX_REQUEST_BYTES
from ..settings import ServiceSettings


def build_broker(settings: ServiceSettings, registry: CollectorRegistry,
                 tracer_provider: TracerProvider | None) -> KafkaBroker:
    middlewares: list[Any] = [KafkaPrometheusMiddleware(registry=registry, app_name=settings.service_name)]
    if tracer_provider is not None:
        middlewares.insert(0, KafkaTelemetryMiddleware(tracer_provider=tracer_provider))
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        acks="all",
        enable_idempotence=False,  # Tansu has no InitProducerId; handlers are idempotent instead.
        max_request_size=PRODUCER_MAX_REQUEST_BYTES,  # dead-letter copies are cut to fit it
        graceful_timeout=settings.graceful_timeout_s,
        middlewares=middlewares,
        logger=None,
    )
