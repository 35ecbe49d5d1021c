-- TA tables: clickhouse-sink writes them from torghut.market.bars.v1 and torghut.ta.signals.v1, and
-- signal-trigger reads them when SIGNAL_SOURCE=clickhouse (the upstream layout, single node:
-- ReplacingMergeTree instead of ReplicatedReplacingMergeTree ON CLUSTER). The clickhouse-server
-- image runs this once, on an empty data volume. On a merge the row with the highest ingest_ts wins
-- for each (symbol, event_ts, seq); readers must still tolerate duplicates until then.
-- Generated from torghut_strategies.clickhouse.schema by deploy/generate.py: do not edit by hand.
CREATE DATABASE IF NOT EXISTS torghut;

CREATE TABLE IF NOT EXISTS torghut.ta_microbars
(
    symbol       LowCardinality(String),
    event_ts     DateTime64(3, 'UTC'),
    seq          UInt64,
    ingest_ts    DateTime64(3, 'UTC'),
    is_final     UInt8,
    source       LowCardinality(String),
    window_size  LowCardinality(String),
    window_step  Nullable(String),
    window_start Nullable(DateTime64(3, 'UTC')),
    window_end   Nullable(DateTime64(3, 'UTC')),
    version      UInt32,
    o            Float64,
    h            Float64,
    l            Float64,
    c            Float64,
    v            Float64,
    vwap         Nullable(Float64),
    count        UInt64,
    origin       LowCardinality(String)
)
ENGINE = ReplacingMergeTree(ingest_ts)
PARTITION BY toDate(event_ts)
ORDER BY (symbol, event_ts, seq)
TTL toDateTime(event_ts) + INTERVAL 35 DAY
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS torghut.ta_signals
(
    symbol                   LowCardinality(String),
    event_ts                 DateTime64(3, 'UTC'),
    seq                      UInt64,
    ingest_ts                DateTime64(3, 'UTC'),
    is_final                 UInt8,
    source                   LowCardinality(String),
    window_size              LowCardinality(String),
    window_step              Nullable(String),
    window_start             Nullable(DateTime64(3, 'UTC')),
    window_end               Nullable(DateTime64(3, 'UTC')),
    version                  UInt32,
    macd                     Nullable(Float64),
    macd_signal              Nullable(Float64),
    macd_hist                Nullable(Float64),
    ema12                    Nullable(Float64),
    ema26                    Nullable(Float64),
    rsi14                    Nullable(Float64),
    boll_mid                 Nullable(Float64),
    boll_upper               Nullable(Float64),
    boll_lower               Nullable(Float64),
    vwap_session             Nullable(Float64),
    vwap_w5m                 Nullable(Float64),
    imbalance_spread         Nullable(Float64),
    imbalance_bid_px         Nullable(Float64),
    imbalance_ask_px         Nullable(Float64),
    imbalance_bid_sz         Nullable(UInt64),
    imbalance_ask_sz         Nullable(UInt64),
    vol_realized_w60s        Nullable(Float64),
    microstructure_signal_v1 Nullable(String),
    spread_bps               Nullable(Float64),
    volume                   Nullable(Float64),
    atr14                    Nullable(Float64),
    warmup                   Nullable(UInt8)
)
ENGINE = ReplacingMergeTree(ingest_ts)
PARTITION BY toDate(event_ts)
ORDER BY (symbol, event_ts, seq)
TTL toDateTime(event_ts) + INTERVAL 35 DAY
SETTINGS index_granularity = 8192;
