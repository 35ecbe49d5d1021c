"""``--signals``: a file or dump on disk, or a topic window or table read straight from its server."""

from __future__ import annotations

from .signals import SignalSet, load_local_signals

REMOTE_SCHEMES = ("kafka://", "clickhouse://")


def load_signals(spec: str) -> SignalSet:
    """The signals named by ``--signals``; :class:`~.errors.InputError` names the record and the field."""
    if spec.startswith(REMOTE_SCHEMES):
        from .remote_sources import read_remote  # the Kafka and ClickHouse clients load only when asked for

        return read_remote(spec)
    return load_local_signals(spec)
