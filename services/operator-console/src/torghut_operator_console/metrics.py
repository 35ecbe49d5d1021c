"""The console's own metrics, on the runtime's registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.streams = Gauge("torghut_console_streams", "Pages connected to the event stream.", registry=registry)
        self.pushes = Counter("torghut_console_pushes_total", "Panel updates rendered and sent to the open pages.",
                              ["panel"], registry=registry)
        self.render_seconds = Histogram("torghut_console_render_seconds", "Time to render one panel.", ["panel"],
                                        registry=registry, buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2))
        self.logins = Counter("torghut_console_logins_total", "Login attempts by outcome.", ["outcome"],
                              registry=registry)
        self.control = Counter("torghut_console_control_requests_total",
                               "Control requests by outcome (published, refused: why).", ["outcome"],
                               registry=registry)
