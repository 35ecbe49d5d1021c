"""The chart's services: each enabled service gets its objects; pods are non-root, read-only, with /tmp
and probes; credentials come from Secrets; Services and PDBs select their own pods; settings changes
roll the pods; files are mounted where the settings point; the docs name every secret key; the
Ingress and the ServiceMonitors."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml

from .conftest import VALUES_NAMES, Objects, Render


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
