"""Thin adapters: the Postgres store, the Kafka handlers and the operator HTTP routes."""
