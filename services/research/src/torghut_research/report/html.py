"""``report.html``: one self-contained page (plots inlined) with the run's equity, folds and every gate.

What the page derives, rather than copies, from the artifacts:

- **Root causes first.** The recommendation's reasons are one sorted list, in which some codes only
  restate another reason's consequence. :data:`KNOCK_ON` lists them; the page shows the other
  reasons first and these after them, as "and therefore".
- **Gates that do not apply to the target show "n/a"**, not "pass": gates 6 and 7 when the gate
  report records them as ``skipped`` (a shadow target, or a policy that does not require the
  evidence), and gate 5 unless the target is live. The gate report does not record gate 5's
  applicability, so it is derived here the way :func:`..gates.matrix.gate5` decides it.
- **Variants are named by their parameters**: the values that differ between the grid's variants
  (``cooldown_s=600, oversold=25``), not only their index.
- **Short windows.** Sharpe and Sortino are annualised from per-bar returns. The fold table keeps
  them, with a note giving the test windows' length; below :data:`SHORT_WINDOW` the note says the
  figures mean little.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..artifacts import RunDirectory
from ..backtest.walkforward import WalkForwardRun
from .plots import equity_png, folds_png

_ENVIRONMENT = Environment(loader=PackageLoader("torghut_research", "report"), autoescape=select_autoescape(),
                           keep_trailing_newline=True)

#: Reasons that only restate the consequence of another reason, never a finding of their own:
#: ``gate_report_not_promotable`` and ``gate_recommended_mode_below_target`` (some gate failed);
#: ``required_artifacts_missing`` (the only artifact a finished lane run can lack is the paper patch,
#: which a run that does not promote never writes); ``gateN_not_passed`` (the prerequisites restating
#: a gate's status, whose reasons are listed); ``uncertainty_gate_not_pass`` and
#: ``uncertainty_gate_action_*`` (gate 7's action, next to the threshold reason that caused it).
KNOCK_ON = frozenset({
    "gate_report_not_promotable", "gate_recommended_mode_below_target", "required_artifacts_missing",
    "gate0_not_passed", "gate1_not_passed", "gate2_not_passed", "gate7_not_passed", "uncertainty_gate_not_pass",
    "uncertainty_gate_action_degrade", "uncertainty_gate_action_abstain", "uncertainty_gate_action_fail",
})

#: Test windows shorter than this make an annualised Sharpe or Sortino an extrapolation that means little.
SHORT_WINDOW = timedelta(days=7)


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _plain(value: Any) -> str:
    """A parameter as a person writes it: ``600`` not ``600.0``, ``25`` not ``'25'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + _params(value) + "}"
    return str(value)


def _params(mapping: dict[str, Any]) -> str:
    """``{'min_separation': '0'}`` as ``min_separation=0``."""
    return ", ".join(f"{key}={_plain(value)}" for key, value in mapping.items())


def _window(fold: dict[str, Any]) -> str:
    """A test window in one short line: ``02-12 17:06–18:04`` (the year is in the page's header)."""
    start, end = fold["test_start"], fold["test_end"]
    if start[:10] == end[:10]:
        return f"{start[5:10]} {start[11:16]}–{end[11:16]}"
    return f"{start[:10]} → {end[:10]}"


def _halves(label: str) -> tuple[str, str]:
    """A regime label (``vol=low|trend=down|liq=liquid``) cut after the ``|`` nearest its middle: the page
    lets it break there (``<wbr>``) and nowhere else, so it takes at most two lines."""
    cuts = [i + 1 for i, char in enumerate(label) if char == "|"]
    if not cuts:
        return label, ""
    cut = min(cuts, key=lambda i: abs(2 * i - len(label)))
    return label[:cut], label[cut:]


def _duration(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} minutes"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} hours"
    return f"{minutes / 1440:.1f} days"


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, f"{path}.{index}")]
    return [(path, value)]


def variant_labels(run: WalkForwardRun) -> list[str]:
    """Each variant as the values that set it apart: ``cooldown_s=600, oversold=25``.

    A value is named by its key alone (``oversold``) when that is unambiguous among the keys the
    grid varies, else by strategy id and path (``macd-rsi-v1.cooldown_s``).
    """
    flat = [{(s["id"], path): value for s in variant.book.model_dump(mode="json")["strategies"]
             for path, value in _leaves({k: v for k, v in s.items() if k != "id"})} for variant in run.variants]
    varying = [key for key in flat[0] if any(f.get(key) != flat[0][key] for f in flat[1:])] if flat else []
    leaf_names = [path.rsplit(".", 1)[-1] for _, path in varying]
    names = {key: leaf if leaf_names.count(leaf) == 1 else f"{key[0]}.{key[1]}"
             for key, leaf in zip(varying, leaf_names, strict=True)}
    return [", ".join(f"{names[key]}={_plain(f.get(key))}" for key in varying) for f in flat]


def split_reasons(reasons: list[str]) -> tuple[list[str], list[str]]:
    """(root causes, knock-on reasons). With no root cause left, every reason is shown as one."""
    root = [r for r in reasons if r not in KNOCK_ON]
    if not root:
        return list(reasons), []
    return root, [r for r in reasons if r in KNOCK_ON]


def gate_rows(gate_report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each gate with ``status`` pass, fail or n/a, and what to say in its reasons cell."""
    target = gate_report["promotion_target"]
    rows = []
    for gate in gate_report["gates"]:
        if gate["details"].get("skipped"):
            status, note = "n/a", ("not evaluated: a shadow target does not need it" if target == "shadow"
                                   else "not evaluated: the policy does not require profitability evidence")
        elif gate["gate_id"] == "gate5_live_ramp_readiness" and target != "live":
            status, note = "n/a", f"not evaluated: only a live target needs it, and the target is {target}"
        else:
            status, note = gate["status"], ", ".join(gate["reasons"]) or "—"
        rows.append({"gate_id": gate["gate_id"], "status": status, "css": "na" if status == "n/a" else status,
                     "note": note})
    return rows


def sharpe_note(run: WalkForwardRun) -> dict[str, Any]:
    spans = [datetime.fromisoformat(f["fold"]["test_end"]) - datetime.fromisoformat(f["fold"]["test_start"])
             for f in run.fold_reports]
    shortest, longest = (min(spans), max(spans)) if spans else (timedelta(0), timedelta(0))
    length = _duration(longest) if _duration(shortest) == _duration(longest) else (
        f"{_duration(shortest)} to {_duration(longest)}")
    return {"bars_per_year": run.bars_per_year, "length": length, "short": bool(spans) and longest < SHORT_WINDOW}


_ENVIRONMENT.filters["num"] = _number
_ENVIRONMENT.filters["window"] = _window
_ENVIRONMENT.filters["halves"] = _halves
_ENVIRONMENT.filters["plain"] = _plain
_ENVIRONMENT.filters["params"] = _params


def write_report(out: RunDirectory, run: WalkForwardRun, gate_report: dict[str, Any], spec: dict[str, Any]) -> None:
    equity, folds = equity_png(run), folds_png(run)
    out.write_bytes("plots/equity.png", equity)
    out.write_bytes("plots/folds.png", folds)
    recommendation = gate_report["promotion_recommendation"]
    root, knock_on = split_reasons(recommendation["reasons"])
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        spec=spec, run=run, gates=gate_report, decision=gate_report["promotion_decision"],
        recommendation=recommendation, root_reasons=root, knock_on_reasons=knock_on,
        gate_rows=gate_rows(gate_report), variants=variant_labels(run), sharpe=sharpe_note(run),
        equity_png=base64.b64encode(equity).decode(), folds_png=base64.b64encode(folds).decode())
    out.write_text("report.html", page)
