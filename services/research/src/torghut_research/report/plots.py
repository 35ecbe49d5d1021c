"""PNG plots of a run: the out-of-sample equity curve with its drawdown, and the per-fold net P&L.

Rendered with matplotlib's Agg backend and no metadata, so the same run draws the same bytes.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..backtest.walkforward import WalkForwardRun

_STYLE: dict[str, Any] = {"figure.dpi": 100, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def equity_png(run: WalkForwardRun) -> bytes:
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, height_ratios=(3, 1))
        times = pd.to_datetime(run.equity_times, utc=True)
        peak = np.maximum.accumulate(np.concatenate([[0.0], run.equity]))[1:] if len(run.equity) else run.equity
        top.plot(times, run.equity, color="#1f5fa8", linewidth=1.2)  # no legend: the title says what the line is
        top.axhline(0, color="#888", linewidth=0.6)
        for fold in run.folds[1:]:
            top.axvline(pd.Timestamp(fold.test_start, tz="UTC"), color="#bbb", linewidth=0.6, linestyle="--")
        top.set_ylabel("net P&L ($)")
        bottom.fill_between(times, run.equity - peak, 0, color="#c0392b", alpha=0.5, linewidth=0)
        bottom.set_ylabel("drawdown ($)")
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
        top.set_title("Walk-forward equity, out of sample (test windows chained; dashed lines start folds; UTC)")
        return _png(figure)


def folds_png(run: WalkForwardRun) -> bytes:
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        figure, axis = plt.subplots(figsize=(9, 3))
        names = [f["fold"]["name"] for f in run.fold_reports]
        candidate = [f["test"]["net_pnl"] for f in run.fold_reports]
        baseline = [m["net_pnl"] for m in run.baseline_folds]
        x = np.arange(len(names))
        axis.bar(x - 0.2, candidate, width=0.4, color="#1f5fa8", label="candidate")
        axis.bar(x + 0.2, baseline, width=0.4, color="#aaaaaa", label="baseline (reference book)")
        axis.axhline(0, color="#555", linewidth=0.6)
        axis.set_xticks(x, names)
        axis.set_ylabel("net P&L ($)")
        axis.set_title("Net P&L per test window")
        axis.legend(frameon=False)
        return _png(figure)
