"""Gate 7's inputs, measured: split-conformal intervals for block returns, and the train-to-test shift.

Per fold, the selected variant's per-bar returns are summed into blocks. The train window's blocks
calibrate an interval around their median (the conformal quantile of |block - median| at the
target coverage); the test window's blocks then show how often it held. Across the folds:

* ``observed_coverage``: the share of test blocks inside their fold's interval;
* ``coverage_error``: |target - observed| (also reported as ``calibration_error``);
* ``avg_interval_width``: the interval's width over the width a normal law with the train blocks'
  spread would need; about 1 for well-behaved returns, larger for fat tails;
* ``shift_score``: the mean two-sample Kolmogorov-Smirnov distance between train and test blocks
  (0: same distribution, 1: disjoint).

Too few blocks, or a train window without a single trade, leave the inputs missing: gate 7 then
abstains (fails closed) rather than pass on nothing.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
MIN_BLOCKS = 8


def block_sums(returns: Floats, block: int) -> Floats:
    whole = len(returns) // block * block
    return returns[:whole].reshape(-1, block).sum(axis=1) if whole else np.zeros(0)


def ks_distance(a: Floats, b: Floats) -> float:
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def calibrate(folds: list[tuple[Floats, Floats]], target: float) -> dict[str, object]:
    """``folds``: (train returns, test returns) per fold, per bar."""
    z = NormalDist().inv_cdf((1 + target) / 2)
    shortest_test = min((len(test) for _, test in folds), default=0)
    block = max(1, min(30, shortest_test // MIN_BLOCKS))
    covered = total = 0
    widths: list[float] = []
    shifts: list[float] = []
    used = 0
    for train, test in folds:
        train_blocks, test_blocks = block_sums(train, block), block_sums(test, block)
        spread = float(np.std(train_blocks, ddof=1)) if len(train_blocks) > 1 else 0.0
        if len(train_blocks) < MIN_BLOCKS or len(test_blocks) < 1 or spread == 0:
            continue
        used += 1
        centre = float(np.median(train_blocks))
        scores = np.sort(np.abs(train_blocks - centre))
        rank = min(len(scores), math.ceil((len(scores) + 1) * target)) - 1
        radius = float(scores[rank])
        covered += int(np.count_nonzero(np.abs(test_blocks - centre) <= radius))
        total += len(test_blocks)
        widths.append(radius / (z * spread))
        shifts.append(ks_distance(train_blocks, test_blocks))
    snapshot: dict[str, object] = {"schema_version": "calibration_snapshot_v2", "method": "split_conformal_blocks",
                                   "target_coverage": target, "block_bars": block, "folds_used": used,
                                   "test_blocks": total}
    if not used or not total:
        snapshot.update(observed_coverage=None, coverage_error=None, calibration_error=None, avg_interval_width=None,
                        shift_score=None, missing_reason="too_few_blocks_or_no_trades_in_train")
        return snapshot
    observed = covered / total
    snapshot.update(observed_coverage=observed, coverage_error=abs(target - observed),
                    calibration_error=abs(target - observed), avg_interval_width=float(np.mean(widths)),
                    shift_score=float(np.mean(shifts)))
    return snapshot
