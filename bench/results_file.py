"""Where a standalone bench (one run as ``python -m bench.NAME``, outside ``python -m bench``) keeps its figures.

Each writes ``bench/results/NAME.json`` stamped with the time of the run, then prints its summary and
where the file went, so docs/performance.md can cite a file anyone can regenerate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def write_results(name: str, figures: dict[str, Any], summary: str) -> Path:
    """Stamp ``figures`` with the date, write them to ``bench/results/<name>.json``, print ``summary``."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**figures, "date": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2)
                    + "\n")
    print(summary)
    print(f"written to {path.relative_to(REPO_ROOT)}")
    return path
