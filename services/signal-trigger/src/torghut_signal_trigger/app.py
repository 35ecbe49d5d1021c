"""Assembly: settings + strategy book -> a ServiceRuntime consuming Kafka or polling ClickHouse."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_contracts import topics
from torghut_runtime import ServiceRuntime
from torghut_runtime.flags import FeatureFlagSettings, Flag, wire_flags
from torghut_strategies.book import StrategyBook
from torghut_strategies.engine import EngineConfig

from .adapters.handlers import SignalHandler
from .adapters.metrics import TriggerMetrics
from .domain.event_time import initial_cursor_time
from .settings import SignalTriggerSettings
from .strategy_file import load_strategy_book

if TYPE_CHECKING:
    from .adapters.clickhouse_source import ClickHouseSource

MIGRATIONS = Path(__file__).parent / "migrations"


class SignalTriggerService:
    """The runtime plus what tests and the benchmark want to reach: metrics, engine config, source."""

    def __init__(self, settings: SignalTriggerSettings, book: StrategyBook, runtime: ServiceRuntime,
                 flag_settings: FeatureFlagSettings | None = None) -> None:
        self.settings = settings
        self.book = book
        self.runtime = runtime
        self.config = EngineConfig(strategies=book, gates=settings.gate_config(), session=settings.trading_session())
        self.flags = wire_flags(runtime, "signal-trigger", settings, flag_settings)
        runtime.produces(topics.TRIGGERS)
        # SIGNAL_REQUIRE_QUOTE as a flag: both configs built once, the flag picks one per signal.
        self._config_by_quote = {
            value: dataclasses.replace(self.config, gates=dataclasses.replace(self.config.gates, require_quote=value))
            for value in (False, True)}
        self._config_by_quote[settings.signal_require_quote] = self.config
        self.metrics = TriggerMetrics(runtime.registry)
        self.clickhouse: ClickHouseSource | None = None
        replay = settings.clock == "event"
        if settings.signal_source == "kafka":
            handler = SignalHandler(self.current_config, self.metrics, replay=replay,
                                    watermark_name=f"kafka:{settings.topic_name(topics.TA_SIGNALS.name)}")
            runtime.consume(topics.TA_SIGNALS, handler, batch=settings.kafka_max_batch)
        else:
            assert settings.clickhouse_url is not None  # the settings validator requires it
            # Imported here: the ClickHouse driver costs ~30 MB that a Kafka-fed instance never needs.
            from torghut_strategies.clickhouse.reader import ClickHouseSettings

            from .adapters import store
            from .adapters.clickhouse_source import ClickHouseSource

            self.clickhouse = ClickHouseSource(
                ClickHouseSettings(
                    url=settings.clickhouse_url, table=settings.clickhouse_table,
                    price_table=settings.clickhouse_price_table, batch_size=settings.clickhouse_batch_size,
                    allowed_lateness_s=settings.clickhouse_allowed_lateness_s,
                    query_timeout_s=settings.clickhouse_query_timeout_s),
                runtime.engine, self.current_config, self.metrics,
                runtime.outbox(store.TRIGGERS_OUTBOX, store.trigger_message, poll_s=None), replay=replay,
                start_at=initial_cursor_time(settings.clickhouse_start_at, replay=replay, now=datetime.now(UTC),
                                             lookback=timedelta(minutes=settings.clickhouse_start_lookback_min)),
                poll_interval_s=settings.clickhouse_poll_interval_s)
            runtime.background("clickhouse-signals", self.clickhouse.run_forever)
        runtime.add_routes([Route("/api/strategies", self.strategies, methods=["GET"])])

    def current_config(self) -> EngineConfig:
        """The engine config for the next signal (flags off: always the configured one)."""
        return self._config_by_quote[self.flags.value(Flag.SIGNAL_REQUIRE_QUOTE)]

    async def strategies(self, request: Request) -> JSONResponse:
        """The strategy book in force, as validated at start-up."""
        return JSONResponse(self.book.model_dump(mode="json"))


def build_service(settings: SignalTriggerSettings, book: StrategyBook | None = None, *,
                  configure_logs: bool = True,
                  flag_settings: FeatureFlagSettings | None = None) -> SignalTriggerService:
    """Raises ConfigError for a bad strategy book, before anything connects."""
    book = book if book is not None else load_strategy_book(settings.strategies_path)
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs)
    return SignalTriggerService(settings, book, runtime, flag_settings)


def build_runtime(settings: SignalTriggerSettings) -> ServiceRuntime:
    return build_service(settings).runtime
