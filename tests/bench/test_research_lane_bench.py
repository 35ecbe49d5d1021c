"""``python -m bench.research_lane`` keeps working: a small size generates, runs and records every figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import research_lane


@pytest.mark.slow
def test_a_small_run_records_time_and_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(research_lane, "WORKDIR", tmp_path)
    result = research_lane.main(["--symbols", "3", "--bars", "1500", "--folds", "3",
                                 "--results", str(tmp_path / "result.json")])
    assert json.loads((tmp_path / "result.json").read_text()) == result
    assert result["signals"] == 4500
    (run,) = result["runs"]
    assert run["wall_s"] > 0 and run["peak_pss_tree_mb"] > 0 and run["peak_rss_largest_process_mb"] > 0
    assert run["decisions"] > 0 and run["action"] in ("deny", "hold", "promote")
    lines = (tmp_path / "research-signals-3x1500.jsonl").read_text().splitlines()
    assert len(lines) == 4500 and json.loads(lines[0])["symbol"] == "SAAA"
