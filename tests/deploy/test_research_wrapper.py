"""The research lane's wrapper script (deploy/helm/torghut/files/research-lane.sh), which the chart's
CronJob / Job and compose's `research` service both run.

Against a stand-in lane that records its arguments: the window (fixed or a look-back, aligned), the
run directory and `latest`, refusing an incomplete setup, keeping runs after a failure and pruning
the oldest. Then one real lane run through the script the way the image runs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import FILES, ROOT, SCRIPT, run_wrapper

DEMO_SIGNALS = ROOT / "services/operator-cli/src/torghut_cli/demo/dataset/signals-2026-02-12.jsonl"
UID = 10001


def wrapper_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    return {"RESEARCH_SIGNALS": "kafka://k:9092/t?since={since}&until={until}", "RESEARCH_CONFIG_DIR": str(config),
            "RESEARCH_OUTPUT_ROOT": str(tmp_path / "out"), **extra}


def test_a_fixed_window_names_the_run_and_latest_follows_it(tmp_path: Path) -> None:
    env = wrapper_env(tmp_path, RESEARCH_SINCE="2026-02-12T14:30:00Z", RESEARCH_UNTIL="2026-02-12T21:00:00Z")
    calls = run_wrapper(tmp_path, env, args=["--promotion-target", "paper"])
    assert calls.returncode == 0, calls.stderr
    options = dict(zip(calls.argv[1::2], calls.argv[2::2], strict=True))
    assert options["--signals"] == "kafka://k:9092/t?since=2026-02-12T14:30:00Z&until=2026-02-12T21:00:00Z"
    assert options["--output-dir"] == f"{tmp_path}/out/runs/20260212T210000Z"
    assert "--evidence" not in options and "fail closed" in calls.stderr
    assert os.readlink(tmp_path / "out" / "latest") == "runs/20260212T210000Z"


def test_the_lookback_window_is_aligned(tmp_path: Path) -> None:
    calls = run_wrapper(tmp_path, wrapper_env(tmp_path, RESEARCH_LOOKBACK_HOURS="3", RESEARCH_ALIGN_SECONDS="900"))
    assert calls.returncode == 0, calls.stderr
    since, until = re.findall(r"=(\S+?Z)", dict(zip(calls.argv[1::2], calls.argv[2::2], strict=True))["--signals"])
    end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    assert end.minute % 15 == 0 and end.second == 0 and end <= datetime.now(UTC)
    assert end - datetime.fromisoformat(since.replace("Z", "+00:00")) == timedelta(hours=3)


@pytest.mark.parametrize("env, complaint", [
    ({"RESEARCH_SIGNALS": ""}, "RESEARCH_SIGNALS is required"),
    ({"RESEARCH_SINCE": "2026-02-12T14:30:00Z"}, "needs both"),
])
def test_the_wrapper_refuses_an_incomplete_setup(tmp_path: Path, env: dict[str, str], complaint: str) -> None:
    calls = run_wrapper(tmp_path, wrapper_env(tmp_path, **env))
    assert calls.returncode != 0 and complaint in calls.stderr
    assert calls.argv == [], "the lane never ran"


def test_a_failed_lane_keeps_latest_and_every_run(tmp_path: Path) -> None:
    runs = tmp_path / "out" / "runs"
    for name in ("20260210T210000Z", "20260211T210000Z"):
        (runs / name).mkdir(parents=True)
    os.symlink("runs/20260211T210000Z", tmp_path / "out" / "latest")
    calls = run_wrapper(tmp_path, wrapper_env(tmp_path, RESEARCH_KEEP_RUNS="1"), exit_code=2)
    assert calls.returncode == 2, "the lane's exit status (2: unusable input, the Job does not retry)"
    assert os.readlink(tmp_path / "out" / "latest") == "runs/20260211T210000Z"
    assert sorted(p.name for p in runs.iterdir()) == ["20260210T210000Z", "20260211T210000Z"]


def test_keep_runs_prunes_the_oldest(tmp_path: Path) -> None:
    runs = tmp_path / "out" / "runs"
    for name in ("20260209T210000Z", "20260210T210000Z", ".20260211T210000Z.staging-x"):
        (runs / name).mkdir(parents=True)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "evidence.json").write_text("{}")
    calls = run_wrapper(tmp_path, wrapper_env(tmp_path, RESEARCH_KEEP_RUNS="2", RESEARCH_SINCE="2026-02-11T14:30:00Z",
                                              RESEARCH_UNTIL="2026-02-11T21:00:00Z"))
    assert calls.returncode == 0, calls.stderr
    assert "--evidence" in calls.argv
    assert sorted(p.name for p in runs.iterdir()) == [".20260211T210000Z.staging-x", "20260210T210000Z",
                                                      "20260211T210000Z"], "the two newest, staging left alone"


# -- one real run, the way the image runs it -------------------------------------------------------
#: As in test_read_only_runtime.py (test modules cannot import each other): read-only /, a fresh /tmp,
#: uid 10001, cwd /tmp; here the output root is a directory on that /tmp, owned by the runtime user.
SANDBOX = r"""
set -eu
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
case "$BASE_PREFIX" in
  /root/*)
    mkdir /tmp/.keep
    mount --bind /root /tmp/.keep
    mount -t tmpfs -o mode=755 tmpfs /root
    mkdir -p "$BASE_PREFIX"
    mount --bind "/tmp/.keep${BASE_PREFIX#/root}" "$BASE_PREFIX"
    umount /tmp/.keep
    rmdir /tmp/.keep
    ;;
esac
install -d -o "$SANDBOX_UID" -g "$SANDBOX_UID" "$RESEARCH_OUTPUT_ROOT"
mount -o remount,bind,ro /
cd /tmp
exec setpriv --reuid=$SANDBOX_UID --regid=$SANDBOX_UID --clear-groups -- "$@"
"""
#: Inside the sandbox: the wrapper, then what a reader of the output volume would check.
AFTER_RUN = """set -eu
/bin/sh "$0" "$@" > /tmp/summary.json
cat /tmp/summary.json
test -f "$RESEARCH_OUTPUT_ROOT/latest/report.html"
test -f "$RESEARCH_OUTPUT_ROOT/latest/manifest.json"
echo "files: $(find "$RESEARCH_OUTPUT_ROOT/runs" -type f | wc -l)" >&2
"""


def test_the_wrapper_runs_the_real_lane_read_only_as_the_image_user(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        pytest.skip("needs root and util-linux unshare / setpriv for a read-only sandbox")
    if any(Path(p).resolve().is_relative_to("/tmp") for p in (__file__, sys.executable)):
        pytest.skip("the checkout or its venv is under /tmp, which the sandbox replaces with an empty tmpfs")
    venv_bin = Path(sys.executable).parent
    environment = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
        "XDG_CACHE_HOME": "/tmp/.cache", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "BASE_PREFIX": sys.base_prefix, "SANDBOX_UID": str(UID),
        "RESEARCH_SIGNALS": str(DEMO_SIGNALS), "RESEARCH_SINCE": "2026-02-12T14:30:00Z",
        "RESEARCH_UNTIL": "2026-02-12T21:00:00Z", "RESEARCH_CONFIG_DIR": str(FILES / "research"),
        "RESEARCH_OUTPUT_ROOT": "/tmp/research", "TORGHUT_CODE_VERSION": "test",
    }
    started = time.monotonic()
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox",
         "/bin/sh", "-c", AFTER_RUN, str(SCRIPT), "--promotion-target", "paper"],
        capture_output=True, text=True, env=environment, timeout=240, check=False)
    if "Read-only file system" not in result.stderr and result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"cannot build a read-only sandbox here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Read-only file system" not in result.stderr and "Permission denied" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output_dir"] == "/tmp/research/runs/20260212T210000Z"
    # The shipped policy, no evidence: the demo session is denied and no patch is written.
    assert summary["action"] == "deny" and summary["paper_patch_path"] is None
    assert "feature_staleness_missing" in summary["reasons"]
    assert time.monotonic() - started < 200, shlex.join(result.args)
