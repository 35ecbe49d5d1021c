"""The local-model tier (``make test-llm``): a real model behind llama-cpp-python's server on loopback.

Run only when ``TORGHUT_LLM_TESTS=1`` (``make test-llm`` sets it after ``scripts/ensure-local-llm.sh``);
the default ``make test`` skips them, so it stays fast and needs no native build. Asked for and not
installed, they fail rather than skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from torghut_embedded.local_model import INSTALL_HINT, LocalModelServer, installed


def _wanted() -> None:
    if os.environ.get("TORGHUT_LLM_TESTS") != "1":
        pytest.skip("the local-model tier runs with make test-llm (TORGHUT_LLM_TESTS=1)")
    if installed() is None:
        pytest.fail(INSTALL_HINT)


@pytest.fixture(scope="session")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelServer]:
    """One model server for the tier's tests that only ask it."""
    _wanted()
    server = LocalModelServer(tmp_path_factory.mktemp("local-model"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_model(tmp_path: Path) -> Iterator[LocalModelServer]:
    """A model server of the test's own, for a test that kills it."""
    _wanted()
    server = LocalModelServer(tmp_path)
    server.start()
    yield server
    server.stop()
