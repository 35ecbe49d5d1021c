"""``torghut-infra up`` starts the flag server beside the broker and Postgres, prints its URL, and
``down`` stops it; a bad features file stops the whole start naming the flag."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from torghut_embedded import StackNotFound, cli, stop_stack
from torghut_embedded.processes import is_alive

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def stack_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="torghut-flags-stack-"))
    yield path
    with contextlib.suppress(StackNotFound):
        stop_stack(path)
    shutil.rmtree(path, ignore_errors=True)


def _up(stack_dir: Path, features: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torghut_embedded.cli", "up", "--data-dir", str(stack_dir), "--no-topics",
         "--flags-file", str(features)],
        capture_output=True, text=True, timeout=60, check=False)


def test_up_starts_the_flag_server_and_down_stops_it(stack_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    up = _up(stack_dir, REPO / "deploy" / "flags" / "features.yaml")
    assert up.returncode == 0, up.stderr
    recorded = json.loads((stack_dir / "stack.json").read_text())
    url = recorded["flags_url"]
    assert url.startswith("http://127.0.0.1:") and f"flags      {url}" in up.stdout
    assert f"TRADING_FEATURE_FLAGS_URL={url}\n" in (stack_dir / "stack.env").read_text()
    assert set(recorded["pids"]) == {"kafka", "postgres", "flags"}

    answer = httpx.post(f"{url}/evaluate/v1/boolean", json={
        "namespaceKey": "default", "flagKey": "torghut_trading_allow_shorts", "entityId": "torghut", "context": {}})
    assert answer.status_code == 200 and answer.json()["enabled"] is False

    assert cli.main(["status", "--data-dir", str(stack_dir)]) == 0
    assert "flags: yes" in capsys.readouterr().out
    assert cli.main(["down", "--data-dir", str(stack_dir)]) == 0
    assert not any(is_alive(pid) for pid in recorded["pids"].values())


def test_a_bad_features_file_fails_the_start_naming_the_flag(stack_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "features.yaml"
    bad.write_text("namespace: default\nflags:\n  - {key: torghut_x, type: BOOLEAN_FLAG_TYPE, enabled: 'on'}\n")
    up = _up(stack_dir, bad)
    assert up.returncode == 2
    assert "flags failed to start" in up.stderr and "flag 'torghut_x': enabled must be true or false" in up.stderr
    recorded = json.loads((stack_dir / "stack.json").read_text())
    assert recorded["state"] == "stopped"
    assert not any(is_alive(pid) for pid in recorded["pids"].values())
