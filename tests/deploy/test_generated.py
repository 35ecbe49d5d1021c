"""The generated deploy files are current: topics from the registry, settings from the services."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import yaml
from torghut_contracts import topics


def test_generated_files_are_current(generator: ModuleType) -> None:
    stale = [str(p.relative_to(generator.ROOT)) for p in generator.stale_files()]
    assert not stale, f"stale generated files {stale}: run `uv run python deploy/generate.py`"


def _registry() -> dict[str, tuple[int, dict[str, str]]]:
    expected = {}
    for spec in topics.all_topic_specs():
        expected[spec.name] = (spec.partitions, dict(spec.config))
        expected[spec.dlq.name] = (spec.dlq.partitions, dict(spec.dlq.config))
    return expected


def test_compose_topic_list_is_the_registry_with_dead_letter_topics(generator: ModuleType) -> None:
    listed = {}
    for line in generator.TOPICS_TXT.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, partitions, *configs = line.split()
        listed[name] = (int(partitions), dict(kv.split("=", 1) for kv in configs))
    assert listed == _registry()
    assert all(name + ".dlq" in listed for name in topics.BY_NAME)


def test_chart_topic_specs_are_the_registry_with_dead_letter_topics(deploy: Any) -> None:
    specs = yaml.safe_load((deploy.chart / "values.yaml").read_text())["topics"]["specs"]
    listed = {name: (spec["partitions"], {k: str(v) for k, v in spec["config"].items()})
              for name, spec in specs.items()}
    assert listed == _registry()


def test_control_topic_is_compacted_with_a_single_partition(generator: ModuleType) -> None:
    rows = {name: (partitions, config) for name, partitions, config in generator.topic_rows()}
    assert rows[topics.CONTROL.name] == (1, {"cleanup.policy": "compact"})
    assert rows[topics.CONTROL.name + ".dlq"][1]["cleanup.policy"] == "delete"


def test_every_service_runs_its_own_console_script(generator: ModuleType, deploy: Any) -> None:
    """Compose and the chart start `torghut-<name>`, and each service's pyproject declares that script."""
    import tomllib

    values = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    assert set(values["services"]) == set(generator.SERVICES)
    for service in generator.SERVICES:
        assert values["services"][service]["command"] == [f"torghut-{service}"]
        pyproject = deploy.root / "services" / service / "pyproject.toml"
        if pyproject.exists():
            scripts = tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
            assert f"torghut-{service}" in scripts, f"{pyproject} declares no torghut-{service} script"
