"""The research lane over the session the demo just played: the suite's research half, once.

The lane reads the same signals file with the chart's default candidate and the shipped gate
policy, and publishes its run to the demo's broker, where the console's research page shows it.
There is no evidence file, so the gates that need one fail closed: the run is a denial, and the
page and the report say which gates and why. It runs as ``torghut-research``'s own process (no
service imports another), from the checkout the demo runs in; without the candidate and the policy
beside it (an installed wheel) it is skipped, and the report says so.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .make_dataset import DATASET_DIR, SESSION_DATE

REPO = Path(__file__).resolve().parents[5]
CANDIDATE = REPO / "deploy/helm/torghut/files/research/strategy-config.yaml"
POLICY = REPO / "services/research/config/gate-policy.json"
EVALUATED_AT = f"{SESSION_DATE}T21:05:00Z"
"""After the session's close: the same run, the same run id, at every demo."""


async def run_research_lane(workdir: Path, bootstrap: str) -> dict[str, Any] | None:
    """The lane's JSON summary (``published``: the topic it went to), or None when it cannot run here."""
    if not (CANDIDATE.is_file() and POLICY.is_file()):
        return None
    signals = DATASET_DIR / f"signals-{SESSION_DATE}.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "torghut_research", "lane", "--signals", str(signals),
        "--strategy-config", str(CANDIDATE), "--gate-policy", str(POLICY), "--output-dir", str(workdir / "research"),
        "--evaluated-at", EVALUATED_AT, "--kafka-bootstrap", bootstrap, "--topic-prefix", "",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the research lane failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def failed_gates(result: dict[str, Any]) -> list[str]:
    """The gates that did not pass, from the run's own gate report."""
    report = json.loads(Path(result["gate_report_path"]).read_text())
    return [gate["gate_id"] for gate in report["gates"] if gate["status"] != "pass"]
