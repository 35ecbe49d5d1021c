"""Embedded infrastructure for Torghut: the real Tansu broker and a real Postgres, no Docker.

Python API::

    from torghut_embedded import EmbeddedStack, create_default_topics, run_blocking

    with EmbeddedStack(".torghut/infra") as stack:
        run_blocking(create_default_topics(stack.kafka_bootstrap))
        ...  # stack.kafka_bootstrap, stack.database_url, stack.pids, stack.env_file

CLI: ``torghut-infra up|down|status --data-dir DIR``. Pytest fixtures: see ``pytest_plugin``.
Heavy client libraries (aiokafka, asyncpg) are imported only when used.
"""

from __future__ import annotations

from ._aio import run_blocking
from .errors import EmbeddedError, ServerExited, ServerStartError, StackAlreadyRunning, StackNotFound
from .kafka import (
    FAST_CONSUMER_SETTINGS,
    TANSU_PRODUCER_SETTINGS,
    TopicSpec,
    TopicSpecLike,
    create_default_topics,
    create_test_topics,
    create_topics,
    delete_topics,
    list_topics,
)
from .postgres import create_database, drop_database
from .stack import EmbeddedStack
from .stack_record import StackInfo, read_stack, stop_stack

__all__ = [
    "FAST_CONSUMER_SETTINGS",
    "TANSU_PRODUCER_SETTINGS",
    "EmbeddedError",
    "EmbeddedStack",
    "ServerExited",
    "ServerStartError",
    "StackAlreadyRunning",
    "StackInfo",
    "StackNotFound",
    "TopicSpec",
    "TopicSpecLike",
    "create_database",
    "create_default_topics",
    "create_test_topics",
    "create_topics",
    "delete_topics",
    "drop_database",
    "list_topics",
    "read_stack",
    "run_blocking",
    "stop_stack",
]
