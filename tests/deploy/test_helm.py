"""The chart: strict lint and offline render through the Helm SDK, then kubernetes-validate --strict."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

Objects = Callable[[str], list[dict[str, Any]]]
Render = Callable[[dict[str, Any]], dict[str, str]]

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "torghut"
#: Same names as conftest.VALUES_FILES (parametrization happens before fixtures exist).
VALUES_NAMES = ["default", *sorted(p.stem for p in (CHART / "ci").glob("*.yaml"))]
CUSTOM_KINDS = {"KafkaTopic", "ServiceMonitor"}


def test_the_all_features_values_file_exists() -> None:
    assert "all-features-values" in VALUES_NAMES


@pytest.mark.parametrize("values_name", VALUES_NAMES)
def test_lint_strict(helm: ModuleType, deploy: Any, values_name: str) -> None:
    report = helm.lint(str(deploy.chart), deploy.values_of(values_name), strict=True, namespace=deploy.namespace,
                       kube_version=f"v{deploy.kube_version}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
    assert not problems, problems


@pytest.mark.parametrize("values_name", VALUES_NAMES)
def test_rendered_manifests_pass_kubernetes_validate_strict(rendered_objects: Objects, deploy: Any, tmp_path: Path,
                                                            values_name: str) -> None:
    command = deploy.kubernetes_validate_command()
    if command is None:
        deploy.missing_tool("kubernetes-validate", "kubernetes-validate")
    objects = [o for o in rendered_objects(values_name) if o["kind"] not in CUSTOM_KINDS]
    manifest = tmp_path / f"{values_name}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    result = subprocess.run([*command, "-k", deploy.kube_version, "--strict", "--quiet", str(manifest)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout and "WARN" not in result.stdout, result.stdout


def test_kubernetes_validate_catches_an_unknown_field(deploy: Any, tmp_path: Path) -> None:
    """--strict really rejects what the API server would (a typo in a container)."""
    command = deploy.kubernetes_validate_command()
    if command is None:
        deploy.missing_tool("kubernetes-validate", "kubernetes-validate")
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "readinessProbes": {}}]}}
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(yaml.safe_dump(bad))
    result = subprocess.run([*command, "-k", deploy.kube_version, "--strict", str(manifest)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "readinessProbes" in result.stdout


def _service_objects(objects: list[dict[str, Any]], component: str) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects
            if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component}


@pytest.mark.parametrize("values_name", VALUES_NAMES)
def test_each_enabled_service_gets_its_objects(rendered_objects: Objects, deploy: Any, generator: ModuleType,
                                               values_name: str) -> None:
    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    overrides = deploy.values_of(values_name).get("services", {})
    objects = rendered_objects(values_name)
    for service in generator.SERVICES:
        enabled = overrides.get(service, {}).get("enabled", values["services"][service]["enabled"])
        pdb_enabled = overrides.get(service, {}).get("pdb", {}).get("enabled", True)
        owned = _service_objects(objects, service)
        if not enabled:
            assert not owned, f"{service} is disabled but renders {sorted(owned)}"
            continue
        expected = {"Deployment", "Service", "ConfigMap"} | ({"PodDisruptionBudget"} if pdb_enabled else set())
        assert expected <= set(owned), f"{service}: {sorted(owned)}"
        assert ("PodDisruptionBudget" in owned) == pdb_enabled


@pytest.mark.parametrize("values_name", VALUES_NAMES)
def test_pods_are_non_root_read_only_with_tmp_and_probes(rendered_objects: Objects, deploy: Any,
                                                         values_name: str) -> None:
    objects = rendered_objects(values_name)
    deployments = deploy.find(objects, "Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert "emptyDir" in volume
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "flags":
            continue  # Flipt (tests/deploy/test_flags.py): its own image, probes and port
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        port = container["ports"][0]["containerPort"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HTTP_PORT"] == str(port), "the service must listen where the probes look"
        assert container["command"] == [f"torghut-{deployment['metadata']['labels']['app.kubernetes.io/component']}"]


def test_credentials_come_from_secrets_never_from_the_configmap(rendered_objects: Objects, deploy: Any,
                                                                 generator: ModuleType) -> None:
    objects = rendered_objects("default")
    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    for service in [s for s in generator.SERVICES if values["services"][s]["enabled"]]:
        variables = generator.service_env(service) or generator._fallback_vars(service)
        secrets = {v.name for v in variables if v.secret}
        (deployment,) = [d for d in deploy.find(objects, "Deployment")
                         if d["metadata"]["labels"]["app.kubernetes.io/component"] == service]
        sources = deploy.container_env_names(objects, deployment)
        for name in secrets:
            assert sources[name].startswith("secret torghut-credentials/"), f"{service} {name}: {sources[name]}"
    assert "database-url" in " ".join(deploy.container_env_names(objects, deploy.find(objects, "Deployment")[0])
                                      .values())
    assert not deploy.find(objects, "Secret"), "the chart creates no Secret unless secrets.create"


def test_default_render_has_the_topics_job_and_no_custom_resources(rendered_objects: Objects, deploy: Any,
                                                                    generator: ModuleType) -> None:
    objects = rendered_objects("default")
    assert not [o for o in objects if o["kind"] in CUSTOM_KINDS | {"Ingress"}]
    (job,) = deploy.find(objects, "Job")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    (topics_cm,) = [c for c in deploy.find(objects, "ConfigMap") if "topics.txt" in c["data"]]
    script = (deploy.chart / "files" / "create-topics.sh").read_text()
    assert topics_cm["data"]["create-topics.sh"].strip() == script.strip()
    listed = sorted(line for line in topics_cm["data"]["topics.txt"].splitlines() if line and line[0] != "#")
    expected = sorted(line for line in generator.render_topics_txt().splitlines() if line and line[0] != "#")
    assert listed == expected, "the Job creates exactly the registry's topics"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOPIC_REPLICATION_FACTOR"] == "3"


def test_topics_job_values_reach_the_job(rendered_objects: Objects, deploy: Any) -> None:
    objects = rendered_objects("topics-job-values")
    (job,) = deploy.find(objects, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOPIC_PREFIX"] == "sandbox.replay1."
    assert env["TOPIC_ALTER_PARTITIONS"] == "true"
    assert env["KAFKA_COMMAND_CONFIG"] == "/etc/torghut/client/client.properties"
    (topics_cm,) = [c for c in deploy.find(objects, "ConfigMap") if "topics.txt" in c["data"]]
    assert "torghut.ta.signals.v1 12 " in topics_cm["data"]["topics.txt"]


def test_strimzi_renders_kafka_topics_kept_on_uninstall(rendered_objects: Objects, deploy: Any,
                                                        generator: ModuleType) -> None:
    objects = rendered_objects("all-features-values")
    topic_jobs = [j for j in deploy.find(objects, "Job")
                  if j["metadata"]["labels"].get("app.kubernetes.io/component") == "topics"]
    assert not topic_jobs, "KafkaTopic resources replace the Job"
    kafka_topics = deploy.find(objects, "KafkaTopic")
    by_name = {t["spec"]["topicName"]: t for t in kafka_topics}
    assert set(by_name) == {name for name, _, _ in generator.topic_rows()}
    for topic in kafka_topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert isinstance(topic["spec"]["partitions"], int) and topic["spec"]["replicas"] == 3
        assert all(isinstance(v, str) for v in topic["spec"].get("config", {}).values())
    assert by_name["torghut.decisions.v1"]["spec"]["partitions"] == 6
    assert by_name["torghut.control.v1"]["spec"]["config"] == {"cleanup.policy": "compact"}


def test_ingress_exposes_only_the_webhook_path_of_whitepaper_ingest(rendered_objects: Objects, deploy: Any) -> None:
    objects = rendered_objects("all-features-values")
    (ingress,) = deploy.find(objects, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/webhooks/github"
    services = {s["metadata"]["name"]: s for s in deploy.find(objects, "Service")}
    backend = services[path["backend"]["service"]["name"]]
    assert backend["metadata"]["labels"]["app.kubernetes.io/component"] == "whitepaper-ingest"
    assert ingress["spec"]["tls"][0]["secretName"] == "torghut-webhook-tls"


def test_service_monitors_scrape_every_enabled_service(rendered_objects: Objects, deploy: Any,
                                                       generator: ModuleType) -> None:
    objects = rendered_objects("all-features-values")
    monitors = deploy.find(objects, "ServiceMonitor")
    assert {m["metadata"]["labels"]["app.kubernetes.io/component"] for m in monitors} == set(generator.SERVICES)
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s",
                                                 "scrapeTimeout": "10s"}]
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        selected = [s for s in deploy.find(objects, "Service")
                    if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        assert len(selected) == 1


def test_services_and_pdbs_select_their_own_pods(rendered_objects: Objects, deploy: Any) -> None:
    objects = rendered_objects("all-features-values")
    for deployment in deploy.find(objects, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        (service,) = deploy.find(objects, "Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        for pdb in deploy.find(objects, "PodDisruptionBudget", name):
            assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        others = [d for d in deploy.find(objects, "Deployment") if d is not deployment]
        assert all(not service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in others), f"{name}'s Service also selects another service's pods"


def test_settings_changes_roll_the_pods(render: Render, deploy: Any) -> None:
    def checksum(values: dict[str, Any]) -> str:
        objects = deploy.manifests(render(values))
        (deployment,) = deploy.find(objects, "Deployment", "torghut-risk-firewall")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"global": {"config": {"LOG_LEVEL": "DEBUG"}}})


@pytest.mark.parametrize("bad_values, complaint", [
    ({"services": {"risk-firewall": {"replicaz": 2}}}, "replicaz"),
    ({"topics": {"specs": {"torghut.decisions.v1": {"partitions": 0}}}}, "partitions"),
    ({"services": {"risk-firewall": {"config": {"not-an-env-name": "x"}}}}, "not-an-env-name"),
    ({"services": {"risk-firewall": {"secretEnv": {"DATABASE_URL": {"name": "x"}}}}}, "'name' not allowed"),
    ({"global": {"config": {"LOG_LEVEL": "LOUD"}}}, "LOG_LEVEL"),
])
def test_values_schema_rejects_mistakes(render: Render, bad_values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(Exception, match=complaint):
        render(bad_values)


def test_service_files_are_mounted_where_the_settings_point(rendered_objects: Objects, deploy: Any) -> None:
    objects = rendered_objects("all-features-values")
    (deployment,) = deploy.find(objects, "Deployment", "torghut-risk-firewall")
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["files"]["mountPath"] == "/etc/torghut/files" and mounts["files"]["readOnly"] is True
    (files,) = deploy.find(objects, "ConfigMap", volumes["files"]["configMap"]["name"])
    assert "max_notional_per_trade: 5000" in files["data"]["limits.yaml"]
    (config,) = deploy.find(objects, "ConfigMap", "torghut-risk-firewall")
    assert config["data"]["RISK_LIMITS_FILE"] == "/etc/torghut/files/limits.yaml"
    (trigger,) = deploy.find(objects, "Deployment", "torghut-signal-trigger")
    trigger_pod = trigger["spec"]["template"]["spec"]
    assert {"name": "strategies", "mountPath": "/etc/strategies", "readOnly": True} in \
        trigger_pod["containers"][0]["volumeMounts"]
    assert any(v["name"] == "strategies" for v in trigger_pod["volumes"])


def test_docs_name_every_secret_key_the_chart_reads(deploy: Any) -> None:
    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    keys = {ref["key"] for spec in values["services"].values() for ref in spec["secretEnv"].values() if ref}
    docs = (deploy.root / "docs" / "deploy.md").read_text()
    assert not [k for k in sorted(keys) if f"`{k}`" not in docs], "docs/deploy.md 'Secrets' misses keys"


def _console_config(objects: list[dict[str, Any]], deploy: Any) -> dict[str, str]:
    (configmap,) = deploy.find(objects, "ConfigMap", f"{deploy.release}-operator-console")
    data: dict[str, str] = configmap["data"]
    return data


@pytest.mark.parametrize("values_name", VALUES_NAMES)
def test_operator_console_watches_every_enabled_service(rendered_objects: Objects, deploy: Any,
                                                        values_name: str) -> None:
    """CONSOLE_SERVICES is rendered from the release: each enabled service at its own Service and port."""
    objects = rendered_objects(values_name)
    entries = dict(item.split("=", 1) for item in _console_config(objects, deploy)["CONSOLE_SERVICES"].split(","))
    expected = {}
    for service in deploy.find(objects, "Service"):
        component = service["metadata"]["labels"]["app.kubernetes.io/component"]
        if component != "flags":  # Flipt is no torghut service
            expected[component] = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert entries == expected


def test_operator_console_services_follow_the_values(render: Render, deploy: Any) -> None:
    objects = deploy.manifests(render({"services": {"decision-engine": {"enabled": False},
                                                    "ta": {"enabled": True, "port": 9091},
                                                    "operator-console": {"config": {"SERVICE_NAME": "console"}}}}))
    entries = dict(item.split("=", 1) for item in _console_config(objects, deploy)["CONSOLE_SERVICES"].split(","))
    assert "decision-engine" not in entries
    assert entries["ta"] == f"http://{deploy.release}-ta:9091"
    assert entries["console"] == f"http://{deploy.release}-operator-console:8080", "named by its SERVICE_NAME"
    fixed = deploy.manifests(render({"services": {"operator-console": {"config": {
        "CONSOLE_SERVICES": "risk-firewall=http://elsewhere:8080"}}}}))
    assert _console_config(fixed, deploy)["CONSOLE_SERVICES"] == "risk-firewall=http://elsewhere:8080"


def test_operator_console_is_on_by_default_with_optional_secret_passwords(rendered_objects: Objects,
                                                                          deploy: Any) -> None:
    objects = rendered_objects("default")
    (deployment,) = deploy.find(objects, "Deployment", f"{deploy.release}-operator-console")
    assert deployment["spec"]["replicas"] == 1
    assert _console_config(objects, deploy)["CONSOLE_MODE"] == "production"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    for name in ("CONSOLE_OPERATOR_PASSWORD", "CONSOLE_VIEWER_PASSWORD", "CONSOLE_SESSION_SECRET"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "torghut-credentials", "key": name.lower().replace("_", "-"), "optional": True}
    assert deploy.find(objects, "Service", f"{deploy.release}-operator-console")
