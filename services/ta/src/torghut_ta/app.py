"""Assembly: settings -> a ServiceRuntime consuming bars and quotes and publishing TA signals."""

from __future__ import annotations

from pathlib import Path

from torghut_contracts import topics
from torghut_runtime import ServiceRuntime

from .adapters.committed_states import CommittedStates
from .handlers import BarHandler, QuoteHandler
from .metrics import TaMetrics
from .settings import TaSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class TaService:
    """The runtime plus what tests want to reach: metrics and handlers."""

    def __init__(self, settings: TaSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = TaMetrics(runtime.registry)
        runtime.produces(topics.TA_SIGNALS)
        self.bars = BarHandler(settings.rules(), self.metrics, CommittedStates(settings.ta_state_cache_series))
        self.quotes = QuoteHandler(self.metrics)
        # Both high-volume: a batch per transaction, the series' states written once per batch.
        runtime.consume(topics.MARKET_BARS, self.bars, batch=settings.kafka_max_batch)
        runtime.consume(topics.MARKET_QUOTES, self.quotes, batch=settings.kafka_max_batch)


def build_service(settings: TaSettings, *, configure_logs: bool = True) -> TaService:
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs)
    return TaService(settings, runtime)


def build_runtime(settings: TaSettings) -> ServiceRuntime:
    return build_service(settings).runtime
