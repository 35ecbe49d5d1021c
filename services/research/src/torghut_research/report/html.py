"""``report.html``: one self-contained page (plots inlined) with the run's equity, folds and every gate."""

from __future__ import annotations

import base64
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..artifacts import RunDirectory
from ..backtest.walkforward import WalkForwardRun
from .plots import equity_png, folds_png

_ENVIRONMENT = Environment(loader=PackageLoader("torghut_research", "report"), autoescape=select_autoescape(),
                           keep_trailing_newline=True)


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _window(fold: dict[str, Any]) -> str:
    start, end = fold["test_start"], fold["test_end"]
    if start[:10] == end[:10]:
        return f"{start[:10]} {start[11:16]}–{end[11:16]}"
    return f"{start[:10]} → {end[:10]}"


_ENVIRONMENT.filters["num"] = _number
_ENVIRONMENT.filters["window"] = _window


def write_report(out: RunDirectory, run: WalkForwardRun, gate_report: dict[str, Any], spec: dict[str, Any]) -> None:
    equity, folds = equity_png(run), folds_png(run)
    out.write_bytes("plots/equity.png", equity)
    out.write_bytes("plots/folds.png", folds)
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        spec=spec, run=run, gates=gate_report, decision=gate_report["promotion_decision"],
        recommendation=gate_report["promotion_recommendation"],
        equity_png=base64.b64encode(equity).decode(), folds_png=base64.b64encode(folds).decode())
    out.write_text("report.html", page)
