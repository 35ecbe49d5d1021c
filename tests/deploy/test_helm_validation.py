"""The chart: strict lint and offline render through the Helm SDK, then kubernetes-validate --strict;
the values schema rejects mistakes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from .conftest import CUSTOM_KINDS, VALUES_NAMES, Objects, Render


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
