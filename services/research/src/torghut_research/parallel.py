"""Spreading independent pieces of a run over the machine's cores, by fork.

The pieces (validating halves of the input, scanning each variant) read one large shared object:
the forked workers inherit it instead of receiving a pickled copy. Results come back in order, so
a parallel run writes the same bytes as a serial one. Small inputs stay in-process: a fork costs
more than it saves below :func:`worth_forking`'s size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_SHARED: dict[str, Any] = {}


def worth_forking(items: int) -> bool:
    """Fork for inputs of this many signals or more (``TORGHUT_RESEARCH_PARALLEL_MIN_SIGNALS``, default 100,000)."""
    return items >= int(os.environ.get("TORGHUT_RESEARCH_PARALLEL_MIN_SIGNALS", "100000"))


def workers() -> int:
    """``TORGHUT_RESEARCH_WORKERS``, else the cores this process may use (at most 4)."""
    configured = os.environ.get("TORGHUT_RESEARCH_WORKERS")
    return max(1, int(configured)) if configured else max(1, min(4, len(os.sched_getaffinity(0))))


def _call(task: tuple[Callable[[Any, Any], Any], Any]) -> Any:
    function, item = task
    return function(_SHARED["state"], item)


def fork_map(function: Callable[[Any, Item], Result], state: Any, items: Sequence[Item], *,
             parallel: bool) -> list[Result]:
    """``[function(state, item) for item in items]``, over forked workers when ``parallel``."""
    count = min(workers(), len(items))
    if not parallel or count < 2:
        return [function(state, item) for item in items]
    _SHARED["state"] = state
    try:
        with ProcessPoolExecutor(count, mp_context=get_context("fork")) as pool:
            return list(pool.map(_call, [(function, item) for item in items]))
    finally:
        _SHARED.clear()
