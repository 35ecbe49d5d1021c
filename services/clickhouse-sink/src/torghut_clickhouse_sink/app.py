"""Assembly: settings -> a ServiceRuntime consuming bars and TA signals into ClickHouse, publishing nothing."""

from __future__ import annotations

from pathlib import Path

from torghut_contracts import topics
from torghut_runtime import ServiceRuntime

from .adapters.clickhouse import Warehouse
from .handlers import bar_writer, signal_writer
from .metrics import SinkMetrics
from .settings import SinkSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class SinkService:
    """The runtime plus what tests want to reach: metrics, the warehouse and the handlers."""

    def __init__(self, settings: SinkSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        names = settings.table_names()
        self.metrics = SinkMetrics(runtime.registry, names.values())
        self.warehouse = Warehouse(
            settings.clickhouse_url.get_secret_value(), names, self.metrics,
            create_tables=settings.clickhouse_sink_create_tables, timeout_s=settings.clickhouse_sink_timeout_s,
            probe_interval_s=settings.clickhouse_sink_probe_interval_s)
        self.bars = bar_writer(self.warehouse, self.metrics)
        self.signals = signal_writer(self.warehouse, self.metrics)
        # Both high-volume: a batch per transaction and per INSERT. Both wait behind the warehouse's gate
        # while ClickHouse cannot take rows (records held on the topic, not dead-lettered, not committed).
        batch, gate = settings.clickhouse_sink_batch_size, self.warehouse.gate
        runtime.consume(topics.MARKET_BARS, self.bars, batch=batch, gate=gate)
        runtime.consume(topics.TA_SIGNALS, self.signals, batch=batch, gate=gate)
        runtime.background("clickhouse", self.warehouse.watch)
        runtime.on_closed(self.warehouse.close)


def build_service(settings: SinkSettings, *, configure_logs: bool = True) -> SinkService:
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs)
    return SinkService(settings, runtime)


def build_runtime(settings: SinkSettings) -> ServiceRuntime:
    return build_service(settings).runtime
