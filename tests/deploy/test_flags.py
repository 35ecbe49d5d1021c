"""Feature flags in the deploy: compose's `flags` profile and the chart's `flags.enabled` run a Flipt
server over deploy/flags/features.yaml, and every service gets TRADING_FEATURE_FLAGS_* (off by default)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import yaml

Run = Callable[..., Any]
Objects = Callable[[str], list[dict[str, Any]]]
FLAG_VARS = {"TRADING_FEATURE_FLAGS_ENABLED", "TRADING_FEATURE_FLAGS_URL", "TRADING_FEATURE_FLAGS_NAMESPACE",
             "TRADING_FEATURE_FLAGS_ENTITY_ID", "TRADING_FEATURE_FLAGS_TIMEOUT_MS",
             "TRADING_FEATURE_FLAGS_REFRESH_INTERVAL_S", "TRADING_FEATURE_FLAGS_TOKEN"}


def test_compose_flags_profile_runs_flipt_on_the_inventory(run_compose: Run, generator: ModuleType) -> None:
    off = json.loads(run_compose("--profile", "market-data", "config", "--format", "json").stdout)
    assert "flipt" not in off["services"]
    for service in generator.SERVICES:
        environment = off["services"][service]["environment"]
        assert FLAG_VARS - {"TRADING_FEATURE_FLAGS_TOKEN"} <= set(environment), service
        assert environment["TRADING_FEATURE_FLAGS_ENABLED"] == "false"
        assert environment["TRADING_FEATURE_FLAGS_URL"] == "http://flipt:8080"

    result = run_compose("--profile", "flags", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    flipt = json.loads(result.stdout)["services"]["flipt"]
    repository, tag = flipt["image"].rsplit(":", 1)
    assert repository == "flipt/flipt" and tag.startswith("v") and tag != "latest"
    (mount,) = flipt["volumes"]
    assert mount["source"].endswith("deploy/flags/features.yaml") and mount["read_only"]
    assert mount["target"] == "/etc/flipt/features/features.yaml"
    assert flipt["environment"]["FLIPT_STORAGE_TYPE"] == "local"


def test_chart_flags_are_off_by_default_and_deploy_flipt_when_enabled(rendered_objects: Objects, deploy: Any,
                                                                      generator: ModuleType) -> None:
    default = rendered_objects("default")
    assert not [o for o in default if o["metadata"]["name"].endswith("-flags")]
    for deployment in deploy.find(default, "Deployment"):
        assert not FLAG_VARS & set(deploy.container_env_names(default, deployment))

    objects = rendered_objects("all-features-values")
    (flipt,) = [d for d in deploy.find(objects, "Deployment") if d["metadata"]["name"].endswith("-flags")]
    container = flipt["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("flipt/flipt:v")
    (features,) = [c for c in deploy.find(objects, "ConfigMap") if c["metadata"]["name"] == flipt["metadata"]["name"]]
    inventory = yaml.safe_load(features["data"]["features.yaml"])
    assert inventory == yaml.safe_load((deploy.root / "deploy" / "flags" / "features.yaml").read_text())
    (service,) = [s for s in deploy.find(objects, "Service") if s["metadata"]["name"] == flipt["metadata"]["name"]]
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    for name in generator.SERVICES:
        (deployment,) = [d for d in deploy.find(objects, "Deployment")
                         if d["metadata"]["labels"]["app.kubernetes.io/component"] == name]
        ref = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        (config,) = deploy.find(objects, "ConfigMap", ref)
        assert config["data"]["TRADING_FEATURE_FLAGS_ENABLED"] == "true", name
        assert config["data"]["TRADING_FEATURE_FLAGS_URL"] == url, name
        assert config["data"]["TRADING_FEATURE_FLAGS_REFRESH_INTERVAL_S"] == "15", name
