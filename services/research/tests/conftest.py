"""Builders for the research lane's tests: signal files, configs and policies on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DEMO_SIGNALS = REPO / "services/operator-cli/src/torghut_cli/demo/dataset/signals-2026-02-12.jsonl"
SHIPPED_POLICY = REPO / "services/research/config/gate-policy.json"
EVIDENCE = {
    "attested_by": "test", "attested_at": "2026-02-12T20:00:00Z", "staleness_ms_p95": 900, "llm_error_ratio": 0.0,
    "operational": {"operational_ready": True, "runbook_validated": True, "kill_switch_dry_run_passed": True,
                    "rollback_dry_run_passed": True},
    "rollback": {"killSwitchDryRunPassed": True, "gitopsRevertDryRunPassed": True,
                 "strategyDisableDryRunPassed": True, "dryRunCompletedAt": "2026-02-12T12:00:00Z",
                 "humanApproved": True, "rollbackTarget": "reference book"},
    "stability_mode_active": True,
}


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    """``write(name, content)``: a file under tmp_path; dicts become JSON, other values text."""

    def _write(name: str, content: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if isinstance(content, dict | list) else str(content))
        return path

    return _write
