"""Fixtures the integration tests share: the service's topics under a test prefix, and a running app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_decision_client.app import DecisionClientApp
from torghut_runtime.testing import create_topics_for


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TRIGGERS, topics.DECISIONS,
                            topics.ACCOUNT_SNAPSHOTS)
    return topic_namespace


@pytest.fixture
def running() -> Callable[[DecisionClientApp], Any]:
    """``async with running(app)``: the app's runtime started; transports closed after it stopped."""

    @contextlib.asynccontextmanager
    async def run(app: DecisionClientApp) -> AsyncIterator[DecisionClientApp]:
        async with app.runtime.running():
            yield app
        await app.aclose()

    return run
