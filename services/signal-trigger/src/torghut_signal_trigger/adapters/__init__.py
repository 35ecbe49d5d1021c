"""Thin adapters around the core: Postgres store, Kafka handler (``handlers``), ClickHouse source, metrics."""
