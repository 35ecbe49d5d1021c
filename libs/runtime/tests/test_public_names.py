"""The package's names load lazily (``torghut_runtime.__getattr__``): each must resolve to its home."""

from __future__ import annotations

import pytest
import torghut_runtime


@pytest.mark.parametrize("name", torghut_runtime.__all__)
def test_every_public_name_loads(name: str) -> None:
    value = getattr(torghut_runtime, name)
    assert getattr(value, "__name__", name) == name
