"""Signals from a ClickHouse ``ta_signals`` table, read the one way signal-trigger and research share.

* :mod:`.rows` (pure, no driver): the batch query paging by (event_ts, symbol, seq), and a row ->
  ``TaSignal``;
* :mod:`.reader` (needs the ``clickhouse`` extra): :class:`~.reader.ClickHouseReader`, batches
  after a key through clickhouse-driver.

Nothing is imported here, so the pure half never pulls in the driver.
"""
