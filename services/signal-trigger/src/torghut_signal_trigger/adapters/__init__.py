"""Thin adapters around the core: Postgres store, Kafka handler, ClickHouse source, metrics."""
