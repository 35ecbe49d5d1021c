"""Thin adapters around the core: HTTP routes, the Kafka handler, Postgres, the object store, HTTP clients."""
