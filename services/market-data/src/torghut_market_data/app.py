"""Assembly: settings -> a ServiceRuntime that streams Alpaca (or reads a file) into the bar and quote topics."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from torghut_runtime import ServiceRuntime

from .adapters.alpaca_stream import MarketDataStream
from .adapters.file_source import FileSource
from .adapters.history import HistoricalBars
from .adapters.publishing import Publisher
from .domain.gaps import MINUTE, BarTracker
from .handlers import FrameHandlers
from .metrics import MarketDataMetrics
from .settings import MarketDataSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class MarketDataService:
    """The runtime plus what tests want to reach: metrics, handlers, the stream or the file source."""

    def __init__(self, settings: MarketDataSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = MarketDataMetrics(runtime.registry)
        self.publisher = Publisher(runtime, self.metrics, attempts=settings.market_data_publish_attempts)
        self.stream: MarketDataStream | None = None
        self.handlers: FrameHandlers | None = None
        self.file: FileSource | None = None
        if settings.market_data_source == "file":
            assert settings.market_data_file is not None  # the settings validator requires it
            self.file = FileSource(settings.market_data_file, self.publisher, self.metrics, runtime.engine,
                                   cursor_every=settings.market_data_file_cursor_every,
                                   quotes=settings.market_data_quotes_file)
            runtime.background("file-source", self.file.run)
        else:
            self._wire_stream(settings)
        runtime.add_routes([Route("/api/stream", self.stream_status, methods=["GET"])])

    def _wire_stream(self, settings: MarketDataSettings) -> None:
        assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
        key, secret = settings.alpaca_api_key_id.get_secret_value(), settings.alpaca_api_secret_key.get_secret_value()
        history = HistoricalBars(key, secret, feed=settings.market_data_feed, url=settings.market_data_rest_url)
        self.handlers = FrameHandlers(
            self.publisher, self.metrics, self.runtime.engine, universe=frozenset(settings.market_data_symbols),
            source=settings.source_label,
            tracker=BarTracker(max_minutes=settings.market_data_backfill_max_minutes, window=MINUTE),
            fetch=history.bars if settings.market_data_backfill else None)
        self.stream = MarketDataStream(
            key, secret, feed=settings.market_data_feed, url=settings.market_data_stream_url,
            reconnect_min_s=settings.market_data_reconnect_min_s, data_timeout_s=settings.market_data_data_timeout_s,
            metrics=self.metrics, on_stray=self.handlers.on_stray)
        symbols = settings.market_data_symbols
        self.stream.subscribe_bars(self.handlers.on_bar, *symbols)
        self.stream.subscribe_updated_bars(self.handlers.on_updated_bar, *symbols)
        if settings.market_data_quotes:
            self.stream.subscribe_quotes(self.handlers.on_quote, *symbols)
        self.runtime.background("alpaca-stream", self.run_stream)
        self.runtime.on_stop(self.stream.shutdown)

    async def run_stream(self) -> None:
        """Load each symbol's last start, then stream until stopped or refused (alpaca-py reconnects)."""
        assert self.stream is not None and self.handlers is not None
        await self.handlers.load()
        await self.stream.consume_forever()

    async def stream_status(self, request: Request) -> JSONResponse:
        """The stream's state (connected, auth_failed with Alpaca's message, ...) or the file's progress."""
        if self.stream is not None:
            status = self.stream.status
            return JSONResponse({"source": "alpaca", "state": status.state, "error": status.error,
                                 "connections": status.connections})
        return JSONResponse({"source": "file", "state": "done" if self.file and self.file.done.is_set()
                             else "publishing"})


def build_service(settings: MarketDataSettings, *, configure_logs: bool = True) -> MarketDataService:
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs)
    return MarketDataService(settings, runtime)


def build_runtime(settings: MarketDataSettings) -> ServiceRuntime:
    return build_service(settings).runtime
