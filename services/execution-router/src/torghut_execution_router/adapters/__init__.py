"""Thin adapters: Postgres store, venues (Alpaca, LEAN runner, paper), Kafka handlers' helpers."""
