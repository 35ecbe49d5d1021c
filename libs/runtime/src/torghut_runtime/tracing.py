"""OpenTelemetry set-up: one trace follows a message across every hop.

FastStream's Kafka telemetry middleware reads ``traceparent`` on consume and writes it on publish;
this module only decides where spans go: to an OTLP endpoint when one is configured, nowhere
otherwise (spans are still created, so trace ids reach the logs).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def build_tracer_provider(service_name: str, otlp_endpoint: str | None,
                          exporter: SpanExporter | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install_global_tracer_provider(provider: TracerProvider) -> None:
    """Set the process-wide provider once (OpenTelemetry refuses to replace it later)."""
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        trace.set_tracer_provider(provider)
