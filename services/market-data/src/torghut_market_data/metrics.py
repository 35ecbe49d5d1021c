"""market-data's Prometheus metrics, on the runtime's registry (served at /metrics).

Nothing the source sends is dropped unseen: every frame is published, dead-lettered (``rejected``,
by reason) or skipped (``skipped``, by reason); a publish that keeps failing is ``lost``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class MarketDataMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.bars = Counter("torghut_market_data_bars_total", "Bars published, by origin.", ["origin"],
                            registry=registry)
        self.late_bars = Counter("torghut_market_data_late_bars_total", "Bars published with late=true.",
                                 registry=registry)
        self.quotes = Counter("torghut_market_data_quotes_total", "Quotes published.", registry=registry)
        self.rejected = Counter(
            "torghut_market_data_rejected_total",
            "Frames or rows the contract refused, dead-lettered, by kind (bar, quote) and reason.",
            ["kind", "reason"], registry=registry)
        self.skipped = Counter(
            "torghut_market_data_skipped_total", "Valid frames not published (not_in_universe), by kind and reason.",
            ["kind", "reason"], registry=registry)
        self.lost = Counter(
            "torghut_market_data_lost_total",
            "Messages whose publish failed MARKET_DATA_PUBLISH_ATTEMPTS times, by topic (a lost bar is "
            "backfilled after the next one).", ["topic"], registry=registry)
        self.gaps = Counter("torghut_market_data_gaps_total", "Stream gaps found (a backfill each).",
                            registry=registry)
        self.backfill_failures = Counter(
            "torghut_market_data_backfill_failures_total",
            "Backfills whose historical request failed (the gap stays open).", registry=registry)
        self.connections = Counter("torghut_market_data_stream_connections_total",
                                   "Authenticated stream connections (the first and every reconnect).",
                                   registry=registry)
        self.connected = Gauge("torghut_market_data_stream_connected", "1 while the stream is authenticated.",
                               registry=registry)
        self.stream_errors = Counter(
            "torghut_market_data_stream_errors_total", "Error frames from Alpaca, by code (405: symbol limit).",
            ["code"], registry=registry)
        self.auth_failures = Counter(
            "torghut_market_data_stream_auth_failures_total",
            "Credentials Alpaca refused: the stream stops until the service is restarted.", registry=registry)
        self.file_rows = Counter("torghut_market_data_file_rows_total", "File rows read, by outcome.",
                                 ["outcome"], registry=registry)
