"""The research lane in compose: the `research` profile runs the chart's wrapper script once, read-only,
with the stack's topic prefix and window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import FILES, SCRIPT, Run


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
