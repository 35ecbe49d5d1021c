"""The research lane in the Helm chart: the CronJob / Job, its claim and ConfigMap, its values.

The chart is rendered offline (the strict lint and kubernetes-validate run over every values file in
test_helm_validation.py, all-features-values.yaml included). Here: what the research objects contain,
and that the rendered script really calls `torghut-research lane` with the configured arguments
(run against a stand-in that records them).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import FILES, ROOT, SCRIPT, Objects, Render, run_wrapper


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
