"""Walk-forward folds over the data's time span, with a purge before and an embargo inside test windows.

The span is cut into a first train window (``1 - test_fraction`` of it) followed by ``folds``
equal test blocks. Fold ``i`` tests on block ``i`` and trains on what came before it: the same
length as the first train window (``rolling``) or everything from the start (``anchored``). Two
gaps keep the folds honest:

* **purge**: the train window ends this long before its test window starts, so a position opened
  at the end of training cannot carry its outcome into the test;
* **embargo**: the first part of every test block after the first is left unscored, so one trade
  spanning two blocks does not make neighbouring folds' returns look independent when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..config import WalkForward
from ..errors import InputError


@dataclass(frozen=True)
class Fold:
    name: str
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    """Nanoseconds since the epoch; windows are half-open [start, end)."""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "train_start": _iso(self.train_start), "train_end": _iso(self.train_end),
                "test_start": _iso(self.test_start), "test_end": _iso(self.test_end)}


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat().replace("+00:00", "Z")


def layout(first_ns: int, last_ns: int, plan: WalkForward) -> list[Fold]:
    """The folds over events from ``first_ns`` to ``last_ns`` inclusive; InputError when the plan does not fit."""
    end = last_ns + 1
    span = end - first_ns
    if span <= 1:
        raise InputError("walk_forward: the signals span a single instant; folds need a time range")
    first_train = int(span * (1 - plan.test_fraction))
    block = (span - first_train) // plan.folds
    purge, embargo = _ns(plan.purge), _ns(plan.embargo)
    folds = []
    for index in range(plan.folds):
        block_start = first_ns + first_train + index * block
        test_start = block_start + (embargo if index else 0)
        test_end = end if index == plan.folds - 1 else block_start + block
        train_end = block_start - purge
        train_start = first_ns if plan.scheme == "anchored" else max(first_ns, train_end - first_train)
        if test_start >= test_end:
            raise InputError(f"walk_forward: the embargo ({plan.embargo}) leaves fold {index + 1} no test window "
                             f"(a test block is {pd.Timedelta(block, 'ns')})")
        if train_start >= train_end:
            raise InputError(f"walk_forward: the purge ({plan.purge}) leaves fold {index + 1} no train window")
        folds.append(Fold(f"fold_{index + 1}", train_start, train_end, test_start, test_end))
    return folds


def _ns(delta: object) -> int:
    return int(pd.Timedelta(delta).value)
