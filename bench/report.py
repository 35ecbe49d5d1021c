"""One table: every figure beside its bare baseline and the ratio, with the targets judged.

A row's ratio is always figure / baseline. For latency and memory lower is better (the pipeline
target is a ceiling, <= 3x the five-hop chain); for throughput higher is better (signal-trigger
must reach >= 0.5x a bare passthrough). Absolute targets (RSS <= 200 MB, the firewall core's
20,000 evaluations/s) are judged on the figure itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    value: float | None
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline in (None, 0) or math.isnan(self.value):
            return None
        assert self.baseline is not None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def _num(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "/s" or abs(value) >= 1000:
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"{value:,.1f}"


def ceiling(value: float | None, baseline: float | None, times: float) -> bool | None:
    """A 'ratio <= times' target (latency)."""
    if value is None or baseline in (None, 0):
        return None
    assert baseline is not None
    return value / baseline <= times


def floor(value: float | None, baseline: float | None, times: float) -> bool | None:
    """A 'ratio >= times' target (throughput)."""
    if value is None or baseline in (None, 0):
        return None
    assert baseline is not None
    return value / baseline >= times


def render(rows: list[Row], title: str) -> str:
    header = ("figure", "value", "bare baseline", "value", "ratio", "target")
    lines = [title]
    widths = (50, 12, 34, 10, 8, 22)
    lines.append("  ".join(h.ljust(w) if i in (0, 2) else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths,
                                                                                                    strict=True))))
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"-- {section} " + "-" * (sum(widths) + 2 * len(widths) - len(section) - 4))
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        target = f"{row.target} {verdict}".strip()
        value = f"{_num(row.value, row.unit)} {row.unit}"
        base = "" if row.baseline is None else f"{_num(row.baseline, row.unit)} {row.unit}"
        lines.append("  ".join([row.figure.ljust(widths[0]), value.rjust(widths[1]), row.baseline_name.ljust(widths[2]),
                                base.rjust(widths[3]), ratio.rjust(widths[4]), target.rjust(widths[5])]))
    return "\n".join(lines)
