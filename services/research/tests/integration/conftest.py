"""Helpers the research service's integration tests share.

The lane and the ``dspy`` commands run in-process (exit code, JSON summary, stderr), a strategy
config for the lane and the files a run wrote; for the remote sources (test_remote_sources_*.py), the
demo session's signals and a check that a remote input gives the lane the same dataset and artifacts
as a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from torghut_contracts.models import TaSignal
from torghut_research import remote_sources
from torghut_research.cli import main
from torghut_research.lane import LaneInputs, read_inputs, run_lane

from ..conftest import DEMO_SIGNALS, EVIDENCE, REPO, SHIPPED_POLICY

CONFIG = f"""version: 1
book_file: {REPO}/libs/strategies/src/torghut_strategies/reference_book.yaml
walk_forward: {{folds: 4, purge: 2m, embargo: 2m}}
"""


def lane(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any] | None, str]:
    try:
        main(["lane", *argv])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, dict[str, Any], str]:
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


# -- remote sources ---------------------------------------------------------------------------------
LINES = DEMO_SIGNALS.read_bytes().splitlines()  # sorted by (event_ts, symbol, seq)
SIGNALS = [TaSignal.model_validate_json(line) for line in LINES]
HOUR = (datetime(2026, 2, 12, 15, 0, tzinfo=UTC), datetime(2026, 2, 12, 16, 0, tzinfo=UTC))


def dataset_hash(values: list[bytes]) -> str:
    return hashlib.sha256(b"".join(v + b"\n" for v in values)).hexdigest()


def in_hour(signal: TaSignal) -> bool:
    return HOUR[0] <= signal.event_ts < HOUR[1]


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def lane_inputs(write: Callable[[str, Any], Path]) -> list[str]:
    """The lane's arguments over the demo session, the default config, the shipped policy and the evidence."""
    return ["--signals", str(DEMO_SIGNALS), "--strategy-config", str(write("config.yaml", CONFIG)),
            "--gate-policy", str(SHIPPED_POLICY), "--evidence", str(write("evidence.json", EVIDENCE))]


@pytest.fixture
def lane_args(write: Callable[[str, Any], Path]) -> dict[str, str]:
    return {"--strategy-config": str(write("config.yaml", CONFIG)), "--gate-policy": str(SHIPPED_POLICY),
            "--evidence": str(write("evidence.json", EVIDENCE))}


def same_artifacts_but_the_source(signals_a: str, signals_b: str, args: dict[str, str], tmp_path: Path) -> None:
    """Both inputs give one dataset hash, and the lane writes the same bytes from both once the
    recorded source (which names the file or the URL) is set alike."""

    def inputs(signals: str) -> LaneInputs:
        return read_inputs(signals=signals, strategy_config=Path(args["--strategy-config"]),
                           gate_policy=Path(args["--gate-policy"]), evidence=Path(args["--evidence"]),
                           baseline_config=None, target="paper", approval_token=None, evaluated_at=None)

    a, b = inputs(signals_a), inputs(signals_b)
    assert a.hashes == b.hashes
    assert (a.signals.origin, b.signals.origin) == (signals_a, remote_sources.mask(signals_b))
    relabelled = dataclasses.replace(b, signals=dataclasses.replace(b.signals, origin=a.signals.origin))
    first = run_lane(a, tmp_path / "from-a", version="test")
    second = run_lane(relabelled, tmp_path / "from-b", version="test")
    assert first["manifest_sha256"] == second["manifest_sha256"] and first["run_id"] == second["run_id"]
    written = files(tmp_path / "from-a")
    assert "gates/gate-evaluation.json" in written and written == files(tmp_path / "from-b")
