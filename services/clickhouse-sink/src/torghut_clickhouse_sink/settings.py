"""clickhouse-sink's settings: every environment variable it reads, with its default."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from torghut_runtime import ServiceSettings

_TABLE = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SinkSettings(ServiceSettings):
    service_name: str = Field(default="clickhouse-sink", min_length=1)

    clickhouse_url: SecretStr = Field(
        description="clickhouse://user:password@host:9000/database (native protocol; clickhouses:// for TLS). "
                    "The tables are written in its database (default: default).")
    clickhouse_sink_batch_size: int = Field(
        default=500, ge=1, le=10_000,
        description="Records per transaction and so per INSERT, for each topic (bars, signals).")
    clickhouse_sink_create_tables: bool = Field(
        default=True, description="Create the tables (IF NOT EXISTS, in the dialect of the server's version) "
                                  "and add the columns an older table lacks, whenever ClickHouse comes up.")
    clickhouse_sink_microbars_table: str = Field(default="ta_microbars", pattern=_TABLE,
                                                 description="Where bars go (signal-trigger's price table).")
    clickhouse_sink_signals_table: str = Field(default="ta_signals", pattern=_TABLE,
                                               description="Where TA signals go (signal-trigger's CLICKHOUSE_TABLE).")
    clickhouse_sink_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Send/receive timeout of a statement (connecting: at most 5 s).")
    clickhouse_sink_probe_interval_s: float = Field(
        default=2.0, gt=0, le=300,
        description="While ClickHouse is down, how often it is asked again (doubling, at most 30 s).")

    @model_validator(mode="after")
    def _clickhouse_dsn(self) -> SinkSettings:
        # A model check rather than a field check: ConfigError then does not repeat the value, and the
        # URL carries the password. The message names the variable itself.
        parts = urlsplit(self.clickhouse_url.get_secret_value())
        if parts.scheme not in ("clickhouse", "clickhouses"):
            raise ValueError("CLICKHOUSE_URL must be a clickhouse:// (or clickhouses://) URL")
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if not host:
            raise ValueError("CLICKHOUSE_URL must name a host (clickhouse://user:password@host:9000/database)")
        if "/" in parts.path.strip("/"):
            raise ValueError("CLICKHOUSE_URL's path must be just the database name")
        return self

    @model_validator(mode="after")
    def _distinct_tables(self) -> SinkSettings:
        if self.clickhouse_sink_microbars_table == self.clickhouse_sink_signals_table:
            raise ValueError("CLICKHOUSE_SINK_MICROBARS_TABLE and CLICKHOUSE_SINK_SIGNALS_TABLE must differ")
        return self

    def table_names(self) -> dict[str, str]:
        """The schema's table name -> the name it has in this ClickHouse."""
        return {"ta_microbars": self.clickhouse_sink_microbars_table,
                "ta_signals": self.clickhouse_sink_signals_table}
