"""The chart's operator console: on by default, it watches every enabled service (CONSOLE_SERVICES
follows the values), with optional passwords from the Secret."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import VALUES_NAMES, Objects, Render


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
