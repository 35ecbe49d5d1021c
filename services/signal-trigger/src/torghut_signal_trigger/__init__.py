"""signal-trigger: TA signals in, strategy triggers out.

The strategy core (``torghut_strategies``, shared with the research lane so that a backtested
strategy is the live one) decides, per symbol, whether a signal passes the gates and which
declarative strategies fire; thin adapters feed it from Kafka or a ClickHouse table, keep its
per-symbol state in Postgres in the same transaction as the message bookkeeping, and publish the
triggers on ``torghut.triggers.v1``.
"""
