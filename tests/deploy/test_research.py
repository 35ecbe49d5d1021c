"""The research lane's deployment: the chart's CronJob / Job, compose's `research` service, and the wrapper
script both run (deploy/helm/torghut/files/research-lane.sh).

The chart is rendered offline (the strict lint and kubernetes-validate run over every values file in
test_helm.py, all-features-values.yaml included). Here: what the research objects contain, that the
rendered script really calls `torghut-research lane` with the configured arguments (run against a
stand-in that records them), and one real lane run through the script the way the image runs it.
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "deploy" / "helm" / "torghut" / "files"
SCRIPT = FILES / "research-lane.sh"
DEMO_SIGNALS = ROOT / "services/operator-cli/src/torghut_cli/demo/dataset/signals-2026-02-12.jsonl"
UID = 10001

Objects = Callable[[str], list[dict[str, Any]]]
Render = Callable[[dict[str, Any]], dict[str, str]]
Run = Callable[..., subprocess.CompletedProcess[str]]

#: Records its arguments, one per line; creates --output-dir as the lane would (unless it is to fail);
#: exits $STUB_EXIT.
STAND_IN = """#!/bin/sh
previous=""
for arg in "$@"; do
    printf '%s\\n' "$arg"
    if [ "$previous" = "--output-dir" ] && [ "${STUB_EXIT:-0}" = 0 ]; then mkdir -p "$arg"; fi
    previous="$arg"
done > "$STUB_ARGS"
exit "${STUB_EXIT:-0}"
"""


def research_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "research"]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in research_objects(objects) if o["kind"] == kind]
    return found


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def mount_of(pod: dict[str, Any], volume: str) -> tuple[dict[str, Any], dict[str, Any]]:
    (container,) = pod["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume)
    source = next(v for v in pod["volumes"] if v["name"] == volume)
    return mount, source


# -- chart ----------------------------------------------------------------------------------------
def test_the_research_lane_is_off_by_default(rendered_objects: Objects) -> None:
    assert not research_objects(rendered_objects("default"))


def test_all_features_render_the_cronjob_the_one_shot_job_and_the_claim(rendered_objects: Objects) -> None:
    objects = rendered_objects("all-features-values")
    cron = one(objects, "CronJob")
    assert cron["metadata"]["name"] == "torghut-research"
    assert cron["spec"]["schedule"] == "30 16 * * 1-5" and cron["spec"]["timeZone"] == "America/New_York"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid", "two runs at once would share the output volume"
    job = one(objects, "Job")
    assert job["metadata"]["name"] == "torghut-research-r1", "one Job per release revision"
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    env = env_of(pod_of(job)["containers"][0])
    assert (env["RESEARCH_SINCE"], env["RESEARCH_UNTIL"]) == ("2026-02-12T14:30:00Z", "2026-02-12T21:00:00Z")
    assert "RESEARCH_SINCE" not in env_of(pod_of(cron)["containers"][0]), "the CronJob's window moves with the clock"
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    config = one(objects, "ConfigMap")
    assert json.loads(config["data"]["evidence.json"])["attested_by"] == "ops"


@pytest.mark.parametrize("kind", ["CronJob", "Job"])
def test_research_pods_are_locked_down_like_the_services(rendered_objects: Objects, kind: str) -> None:
    objects = rendered_objects("all-features-values")
    (deployment, *_) = [o for o in objects if o["kind"] == "Deployment"]
    service_pod = deployment["spec"]["template"]["spec"]
    workload = one(objects, kind)
    pod = pod_of(workload)
    (container,) = pod["containers"]
    assert pod["securityContext"] == service_pod["securityContext"]
    assert container["securityContext"] == service_pod["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert container["image"] == service_pod["containers"][0]["image"], "the one image"
    _, tmp = mount_of(pod, "tmp")
    assert "emptyDir" in tmp
    job_spec = workload["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else workload["spec"]
    (rule,) = job_spec["podFailurePolicy"]["rules"]
    assert rule == {"action": "FailJob", "onExitCodes": {"containerName": "research", "operator": "In",
                                                         "values": [2]}}, "bad input is not retried"


def test_the_default_resources_fit_a_million_signals(deploy: Any) -> None:
    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())["research"]
    assert values["cronJob"]["enabled"] is False and values["job"]["enabled"] is False
    assert values["promotionTarget"] == "paper"

    def mebibytes(quantity: str) -> float:
        number, unit = re.fullmatch(r"([0-9.]+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
        return float(number) * (1024 if unit == "Gi" else 1)

    # bench/research_lane.py: 1,253 MB peak (PSS, lane + workers) over 1M signals.
    assert mebibytes(values["resources"]["requests"]["memory"]) >= 1300
    assert mebibytes(values["resources"]["limits"]["memory"]) >= mebibytes(values["resources"]["requests"]["memory"])


CRON_VALUES: dict[str, Any] = {
    "global": {"config": {"KAFKA_BOOTSTRAP_SERVERS": "kafka-bootstrap.kafka:9092", "TOPIC_PREFIX": "sandbox.day1."}},
    "research": {"cronJob": {"enabled": True}, "window": {"lookbackHours": 6}, "promotionTarget": "shadow",
                 "extraArgs": ["--baseline-config", "/etc/baseline/book.yaml"], "output": {"keepRuns": 7},
                 "evidence": '{"attested_by": "ops"}\n'},
}


def test_the_cronjob_runs_the_lane_with_the_configured_args_and_mounts_the_config(
        render: Render, deploy: Any, tmp_path: Path) -> None:
    objects = deploy.manifests(render(CRON_VALUES))
    cron = one(objects, "CronJob")
    pod = pod_of(cron)
    (container,) = pod["containers"]
    env = env_of(container)
    config_mount, config_volume = mount_of(pod, "config")
    data_mount, data_volume = mount_of(pod, "data")
    configmap = one(objects, "ConfigMap")

    # The container runs the wrapper from the mounted ConfigMap; the wrapper is the chart's file.
    assert config_volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert config_mount["readOnly"] is True
    assert container["command"] == ["/bin/sh", f"{config_mount['mountPath']}/research-lane.sh"]
    assert configmap["data"]["research-lane.sh"].strip() == SCRIPT.read_text().strip()
    assert env["RESEARCH_CONFIG_DIR"] == config_mount["mountPath"]
    assert env["RESEARCH_OUTPUT_ROOT"] == data_mount["mountPath"]
    claim = one(objects, "PersistentVolumeClaim")
    assert data_volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert env["RESEARCH_SIGNALS"] == \
        "kafka://kafka-bootstrap.kafka:9092/sandbox.day1.torghut.ta.signals.v1?since={since}&until={until}"
    assert env["TORGHUT_CODE_VERSION"] == container["image"]

    # Run what the pod would run, the ConfigMap laid out where its mount says, against a stand-in lane.
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for name, text in configmap["data"].items():
        (config_dir / name).write_text(text)
    pod_env = {k: v for k, v in env.items() if isinstance(v, str)} | {
        "RESEARCH_CONFIG_DIR": str(config_dir), "RESEARCH_OUTPUT_ROOT": str(tmp_path / "data")}
    before = datetime.now(UTC)
    calls = run_wrapper(tmp_path, pod_env, args=container["args"],
                        script=config_dir / container["command"][1].rsplit("/", 1)[1])
    after = datetime.now(UTC)
    assert calls.returncode == 0, calls.stderr
    argv = calls.argv
    assert argv[0] == "lane"
    options = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert options["--strategy-config"] == f"{config_dir}/strategy-config.yaml"
    assert options["--gate-policy"] == f"{config_dir}/gate-policy.json"
    assert options["--evidence"] == f"{config_dir}/evidence.json"
    assert options["--promotion-target"] == "shadow"
    assert options["--baseline-config"] == "/etc/baseline/book.yaml"
    match = re.fullmatch(r"kafka://kafka-bootstrap\.kafka:9092/sandbox\.day1\.torghut\.ta\.signals\.v1"
                         r"\?since=(\S+Z)&until=(\S+Z)", options["--signals"])
    assert match, options["--signals"]
    since, until = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in match.groups())
    assert until - since == timedelta(hours=6)
    assert until.minute == until.second == 0, "the window ends on the hour (retries read the same window)"
    assert before - timedelta(hours=1) < until <= after
    assert options["--output-dir"] == f"{tmp_path}/data/runs/{until:%Y%m%dT%H%M%SZ}"


def test_chart_defaults_are_the_shipped_policy_and_the_reference_book(rendered_objects: Objects) -> None:
    from torghut_research.config import load_candidate
    from torghut_strategies.book_file import reference_book

    shipped = ROOT / "services" / "research" / "config" / "gate-policy.json"
    assert (FILES / "research" / "gate-policy.json").read_bytes() == shipped.read_bytes(), \
        "copy services/research/config/gate-policy.json to the chart's files/research/"
    candidate = load_candidate(FILES / "research" / "strategy-config.yaml")
    assert candidate.book == reference_book(), "the chart's default candidate is the reference book (with a grid)"
    assert len(candidate.variants) > 1
    data = one(rendered_objects("all-features-values"), "ConfigMap")["data"]
    assert data["gate-policy.json"] == shipped.read_text()
    assert data["strategy-config.yaml"] == (FILES / "research" / "strategy-config.yaml").read_text()


def test_values_override_the_inputs_the_source_and_the_storage(render: Render, deploy: Any) -> None:
    values = {"research": {
        "job": {"enabled": True}, "strategyConfig": "version: 1\nstrategies: []\n", "gatePolicy": "{}\n",
        "signals": "clickhouse://clickhouse.{{ .Release.Namespace }}:9000/torghut?table=ta_signals"
                   "&since={since}&until={until}",
        "output": {"persistence": {"enabled": False}}}}
    objects = deploy.manifests(render(values))
    data = one(objects, "ConfigMap")["data"]
    assert data["strategy-config.yaml"] == "version: 1\nstrategies: []\n" and data["gate-policy.json"] == "{}\n"
    assert "evidence.json" not in data, "no evidence unless given: its gates fail closed"
    assert not [o for o in research_objects(objects) if o["kind"] == "PersistentVolumeClaim"]
    pod = pod_of(one(objects, "Job"))
    _, data_volume = mount_of(pod, "data")
    assert data_volume == {"name": "data", "emptyDir": {}}
    assert env_of(pod["containers"][0])["RESEARCH_SIGNALS"] == \
        "clickhouse://clickhouse.trading:9000/torghut?table=ta_signals&since={since}&until={until}"

    secret = deploy.manifests(render({"research": {
        "cronJob": {"enabled": True}, "signalsSecret": {"name": "research-source", "key": "signals"},
        "output": {"persistence": {"existingClaim": "research-runs"}}}}))
    pod = pod_of(one(secret, "CronJob"))
    assert env_of(pod["containers"][0])["RESEARCH_SIGNALS"] == {
        "secretKeyRef": {"name": "research-source", "key": "signals"}}
    _, data_volume = mount_of(pod, "data")
    assert data_volume["persistentVolumeClaim"]["claimName"] == "research-runs"
    assert not [o for o in research_objects(secret) if o["kind"] == "PersistentVolumeClaim"]


@pytest.mark.parametrize("bad_values, complaint", [
    ({"research": {"promotionTarget": "live"}}, "promotionTarget"),
    ({"research": {"cronJob": {"enabled": True, "schedulee": "x"}}}, "schedulee"),
    ({"research": {"job": {"enabled": True, "since": "2026-02-12T14:30:00Z"}}}, "go together"),
    ({"research": {"job": {"since": "yesterday"}}}, "since"),
])
def test_values_schema_rejects_research_mistakes(render: Render, bad_values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(Exception, match=complaint):
        render(bad_values)


# -- compose --------------------------------------------------------------------------------------
def test_compose_research_profile_runs_the_charts_script_once(run_compose: Run, deploy: Any) -> None:
    result = run_compose("--profile", "research", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    service = config["services"]["research"]
    assert service["profiles"] == ["research"]
    assert service["restart"] == "no"
    assert service["entrypoint"] == ["/bin/sh", "/etc/torghut/research/research-lane.sh"]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    binds = {v["target"]: Path(v["source"]) for v in service["volumes"] if v["type"] == "bind"}
    assert binds == {"/etc/torghut/research/research-lane.sh": SCRIPT,
                     "/etc/torghut/research/strategy-config.yaml": FILES / "research" / "strategy-config.yaml",
                     "/etc/torghut/research/gate-policy.json": FILES / "research" / "gate-policy.json"}
    assert all(v["read_only"] for v in service["volumes"] if v["type"] == "bind")
    (data,) = [v for v in service["volumes"] if v["type"] == "volume"]
    assert data["target"] == service["environment"]["RESEARCH_OUTPUT_ROOT"]
    assert data["source"] in config["volumes"]
    assert service["environment"]["RESEARCH_CONFIG_DIR"] == "/etc/torghut/research"
    assert service["environment"]["RESEARCH_SIGNALS"] == \
        "kafka://kafka:9092/torghut.ta.signals.v1?since={since}&until={until}"
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    # The default stack does not start it.
    assert "research" not in json.loads(run_compose("config", "--format", "json").stdout)["services"]


def test_compose_research_reads_the_stacks_topic_prefix_and_window(run_compose: Run, deploy: Any) -> None:
    env = deploy.compose_env(TOPIC_PREFIX="sandbox.x.", RESEARCH_SINCE="2026-02-12T14:30:00Z",
                             RESEARCH_UNTIL="2026-02-12T21:00:00Z")
    result = run_compose("--profile", "research", "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["research"]["environment"]
    assert environment["RESEARCH_SIGNALS"].startswith("kafka://kafka:9092/sandbox.x.torghut.ta.signals.v1?")
    assert environment["RESEARCH_SINCE"] == "2026-02-12T14:30:00Z"


# -- the wrapper script ---------------------------------------------------------------------------
@dataclass
class Calls:
    returncode: int
    stderr: str
    argv: list[str]


def run_wrapper(tmp_path: Path, env: dict[str, str], *, args: list[str] | None = None, script: Path = SCRIPT,
                exit_code: int = 0) -> Calls:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "torghut-research"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    record = tmp_path / "argv.txt"
    record.unlink(missing_ok=True)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_ARGS": str(record), "STUB_EXIT": str(exit_code),
                   **env}
    result = subprocess.run(["/bin/sh", str(script), *(args or [])], capture_output=True, text=True,
                            env=environment, timeout=60, check=False)
    return Calls(result.returncode, result.stderr, record.read_text().splitlines() if record.exists() else [])


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
