"""Keeping the Kafka and ClickHouse client libraries to the lane's rule: one line on stderr, ours.

Shared by :mod:`.remote_kafka` and :mod:`.remote_clickhouse`: the libraries' own logging is silenced
while reading, and their errors are cut to one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0].strip()
    return line[:500]


@contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Silence client libraries' own logging while reading: without a configured handler, Python
    prints their connection errors to stderr, and the lane's rule is one line there, ours."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
