"""clickhouse-sink's pure core: a contract message -> a ClickHouse row. No I/O, no clock."""
