"""Generate the deploy artefacts that must follow the code, so they cannot drift from it.

Two things are generated, both from the code that owns them:

- the topic list (names, partitions, configs of every v1 topic and its ``.dlq``) from
  ``torghut_contracts.topics``: ``deploy/compose/topics.txt`` for compose and the
  ``topics.specs`` block of the chart's ``values.yaml``;
- every environment variable each service reads, with its default, from the service's settings
  class (a ``torghut_runtime.ServiceSettings`` subclass): ``deploy/compose/settings.yml`` (the
  ``environment`` each compose service extends) and the ``config`` / ``secretEnv`` block of each
  service in ``values.yaml``.

- the ClickHouse tables' DDL (``deploy/clickhouse/init/001-ta-tables.sql``) from
  ``torghut_strategies.clickhouse.schema``, the one definition the sink and signal-trigger's tests use;
- the feature-flag variables (``TRADING_FEATURE_FLAGS_*``, ``torghut_runtime.flags``), which every
  service reads, in each compose service's environment; and a copy of ``deploy/flags/features.yaml``
  in the chart (``files/flags/features.yaml``, what its Flipt server serves).

What a settings class reads is worked out by ``deploy/settings_env.py``; this script decides what
each target sets and renders the files.

Run ``uv run python deploy/generate.py`` after changing a topic or a settings class;
``--check`` (used by tests/deploy) exits 1 and names every stale file instead of writing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
if str(DEPLOY) not in sys.path:  # loaded by path (tests/deploy) rather than run as a script
    sys.path.insert(0, str(DEPLOY))

from settings_env import EnvVar, env_vars, flag_env, settings_class  # noqa: E402
from settings_env import env_names as env_names  # noqa: E402  (tests/deploy reach it here)

TOPICS_TXT = DEPLOY / "compose" / "topics.txt"
COMPOSE_SETTINGS = DEPLOY / "compose" / "settings.yml"
VALUES_YAML = DEPLOY / "helm" / "torghut" / "values.yaml"
FEATURES_YAML = DEPLOY / "flags" / "features.yaml"
CHART_FEATURES_YAML = DEPLOY / "helm" / "torghut" / "files" / "flags" / "features.yaml"
CLICKHOUSE_INIT_SQL = DEPLOY / "clickhouse" / "init" / "001-ta-tables.sql"

#: Every long-running service: deploy name -> Python package. The image runs ``torghut-<name>``.
SERVICES: dict[str, str] = {
    "signal-trigger": "torghut_signal_trigger",
    "decision-client": "torghut_decision_client",
    "decision-engine": "torghut_decision_engine",
    "risk-firewall": "torghut_risk_firewall",
    "execution-router": "torghut_execution_router",
    "whitepaper-ingest": "torghut_whitepaper_ingest",
    "market-data": "torghut_market_data",
    "ta": "torghut_ta",
    "clickhouse-sink": "torghut_clickhouse_sink",
    "operator-console": "torghut_operator_console",
}

#: Set once for the whole release (chart: ``global.config``), never repeated per service, so that
#: changing one of them in one place reaches every service.
GLOBAL_VARS: dict[str, str | None] = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "TOPIC_PREFIX": "",
    "TORGHUT_ACCOUNT": "paper-main",
    "LOG_LEVEL": "INFO",
    "OTEL_EXPORTER_OTLP_ENDPOINT": None,
}

#: Set by the chart from other values: HTTP_PORT from ``services.<name>.port`` (it must match the
#: container port, the probes and the Service).
CHART_MANAGED_VARS = {"HTTP_PORT": "port"}

#: Values that differ in the compose stack from the settings' defaults: the stack's own hosts.
#: ``${VAR:-default}`` lets a shell variable (or a ``.env`` file) override the stack-wide ones.
COMPOSE_VALUES: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "DATABASE_URL": "postgresql+asyncpg://torghut:torghut@postgres:5432/torghut",
    "TOPIC_PREFIX": "${TOPIC_PREFIX:-}",
    "TORGHUT_ACCOUNT": "${TORGHUT_ACCOUNT:-paper-main}",
    "LOG_LEVEL": "${LOG_LEVEL:-INFO}",
    # The stack's Flipt server (profile "flags"); flags stay off unless the shell turns them on.
    "TRADING_FEATURE_FLAGS_ENABLED": "${TRADING_FEATURE_FLAGS_ENABLED:-false}",
    "TRADING_FEATURE_FLAGS_URL": "${TRADING_FEATURE_FLAGS_URL:-http://flipt:8080}",
}

#: The services compose starts without a profile (docker-compose.yml): the ones the operator console
#: watches there (CONSOLE_SERVICES), each at its compose host name and container port. The market-data
#: profile's services are left out: they are not up unless asked for (the shell may set CONSOLE_SERVICES).
COMPOSE_DEFAULT_SERVICES: tuple[str, ...] = ("signal-trigger", "decision-client", "decision-engine", "risk-firewall",
                                             "execution-router", "whitepaper-ingest", "operator-console")


def compose_console_services() -> str:
    """CONSOLE_SERVICES of the compose stack: ``name=http://name:8080`` of each default-profile service."""
    return ",".join(f"{service}=http://{service}:8080" for service in COMPOSE_DEFAULT_SERVICES)


#: Per-service values in the compose stack (win over COMPOSE_VALUES).
COMPOSE_SERVICE_VALUES: dict[str, dict[str, str]] = {
    "signal-trigger": {
        "CLICKHOUSE_URL": "clickhouse://torghut:torghut@clickhouse:9000/torghut",
    },
    "clickhouse-sink": {
        "CLICKHOUSE_URL": "clickhouse://torghut:torghut@clickhouse:9000/torghut",
    },
    "decision-client": {
        "DECISION_ENGINE_URL": "http://decision-engine:8080",
    },
    "market-data": {  # profile "market-data": the live stream needs ALPACA_API_KEY_ID / _SECRET_KEY from the shell
        "MARKET_DATA_SYMBOLS": "${MARKET_DATA_SYMBOLS:-AAPL,MSFT,NVDA,AMD,SPY}",
        "MARKET_DATA_FEED": "${MARKET_DATA_FEED:-iex}",
    },
    "whitepaper-ingest": {  # the stack's object store (deploy/compose/seaweedfs-s3.json holds these keys)
        "WHITEPAPER_OBJECT_STORE": "s3",
        "WHITEPAPER_S3_ENDPOINT_URL": "http://objectstore:8333",
        "WHITEPAPER_S3_ACCESS_KEY_ID": "torghut",
        "WHITEPAPER_S3_SECRET_ACCESS_KEY": "torghut-secret",
    },
    # CONSOLE_OPERATOR_PASSWORD / _VIEWER_PASSWORD / CONSOLE_SESSION_SECRET are secrets: passed through
    # from the shell (unset there: a read-only console), never `${VAR:-}`, whose empty value it refuses.
    "operator-console": {
        "CONSOLE_SERVICES": "${CONSOLE_SERVICES:-" + compose_console_services() + "}",
    },
}

#: Per-service values in the chart that differ from the settings' defaults: in-cluster addresses,
#: rendered with `tpl` so they follow the release name.
HELM_SERVICE_VALUES: dict[str, dict[str, str]] = {
    "market-data": {"MARKET_DATA_SYMBOLS": "AAPL,MSFT,NVDA,AMD,SPY"},  # an example universe: set your own
    "decision-client": {
        "DECISION_ENGINE_URL": "http://{{ include \"torghut.serviceFullname\" "
                               "(dict \"root\" . \"service\" \"decision-engine\") }}:8080",
    },
    # Every enabled service of the release at its Service and port (templates/_helpers.tpl).
    "operator-console": {"CONSOLE_SERVICES": "{{ include \"torghut.consoleServices\" . }}"},
}

def service_env(service: str) -> list[EnvVar] | None:
    cls = settings_class(SERVICES[service])
    return None if cls is None else env_vars(cls)


# -- topics -----------------------------------------------------------------------------------------
def topic_rows() -> list[tuple[str, int, dict[str, str]]]:
    """(name, partitions, config) of every registry topic followed by its dead-letter topic."""
    from torghut_contracts import topics

    rows: list[tuple[str, int, dict[str, str]]] = []
    for spec in topics.all_topic_specs():
        rows.append((spec.name, spec.partitions, dict(spec.config)))
        rows.append((spec.dlq.name, spec.dlq.partitions, dict(spec.dlq.config)))
    return rows


def render_topics_txt() -> str:
    lines = [
        "# GENERATED by deploy/generate.py from torghut_contracts.topics: do not edit.",
        "# One topic per line: name partitions [config=value ...]; read by create-topics.sh.",
    ]
    for name, partitions, config in topic_rows():
        lines.append(" ".join([name, str(partitions), *(f"{k}={v}" for k, v in sorted(config.items()))]))
    return "\n".join(lines) + "\n"


def render_values_topics() -> str:
    lines = ["  specs:"]
    for name, partitions, config in topic_rows():
        lines.append(f"    {name}:")
        lines.append(f"      partitions: {partitions}")
        lines.append("      config:")
        lines += [f"        {k}: {json.dumps(v)}" for k, v in sorted(config.items())]
    return "\n".join(lines) + "\n"


# -- settings ---------------------------------------------------------------------------------------
def _comment(var: EnvVar) -> str:
    text = var.description.replace("\n", " ")
    if var.secret:
        text = ("secret; " + text).strip("; ")
    return f"  # {text}" if text else ""


def _yaml_str(value: str | None) -> str:
    return "null" if value is None else json.dumps(value)


def _compose_value(service: str, var: EnvVar) -> str | None:
    """The value in compose: the stack's host, else the default; secrets and unset ones pass through."""
    if var.name in COMPOSE_SERVICE_VALUES.get(service, {}):
        return COMPOSE_SERVICE_VALUES[service][var.name]
    if var.name in COMPOSE_VALUES:
        return COMPOSE_VALUES[var.name]
    if var.secret or var.default is None:
        return None  # `NAME:` with no value: taken from the shell running compose, else unset
    return var.default.replace("$", "$$")


def render_compose_settings() -> str:
    out = [
        "# GENERATED by deploy/generate.py from each service's settings class: do not edit; change the",
        "# settings class and re-run it. Every variable a service reads is here with its default; docker-",
        "# compose.yml `extends` these and overrides per stack. A variable with no value (secrets, unset",
        "# options) is passed through from the shell that runs `docker compose`, and left unset otherwise.",
        "services:",
    ]
    for service in SERVICES:
        variables = service_env(service)
        out.append(f"  {service}:")
        if variables is None:
            out.append(f"    # {SERVICES[service]}.settings does not exist yet: only the common variables.")
            variables = _fallback_vars(service)
        out.append("    environment:")
        for var in [*variables, *flag_env()]:
            value = _compose_value(service, var)
            rendered = "" if value is None else " " + _yaml_str(value)
            out.append(f"      {var.name}:{rendered}{_comment(var)}")
    return "\n".join(out) + "\n"


def _fallback_vars(service: str) -> list[EnvVar]:
    from torghut_runtime import ServiceSettings

    variables = env_vars(ServiceSettings)
    return [EnvVar(v.name, v.field, service if v.name == "SERVICE_NAME" else v.default, v.required, v.secret,
                   v.description) for v in variables]


def render_values_service(service: str) -> str:
    variables = service_env(service)
    lines = []
    if variables is None:
        lines.append(f"    # {SERVICES[service]}.settings does not exist yet: only the common variables.")
        variables = _fallback_vars(service)
    config = [v for v in variables if not v.secret and v.name not in GLOBAL_VARS and v.name not in CHART_MANAGED_VARS]
    secrets = [v for v in variables if v.secret and v.name not in GLOBAL_VARS]
    lines.append("    config:" + ("" if config else " {}"))
    for var in config:
        if var.required:
            lines.append(f"      {var.name}: null  # REQUIRED: set it{_comment(var)[1:]}")
        else:
            value = HELM_SERVICE_VALUES.get(service, {}).get(var.name, var.default)
            lines.append(f"      {var.name}: {_yaml_str(value)}{_comment(var)}")
    lines.append("    secretEnv:" + ("" if secrets else " {}"))
    for var in secrets:
        optional = "" if var.required else ", optional: true"
        lines.append(f"      {var.name}: {{key: {var.secret_key}{optional}}}{_comment(var)}")
    return "\n".join(lines) + "\n"


# -- regions in values.yaml -------------------------------------------------------------------------
def _marker(kind: str, name: str) -> tuple[str, str]:
    return (f"# >>> generated {kind} {name}: deploy/generate.py writes this block, do not edit",
            f"# <<< generated {kind} {name}")


def replace_region(text: str, kind: str, name: str, body: str) -> str:
    begin, end = _marker(kind, name)
    pattern = re.compile(rf"(?P<indent>[ ]*){re.escape(begin)}\n.*?(?P=indent){re.escape(end)}\n", re.S)
    match = pattern.search(text)
    if match is None:
        raise RuntimeError(f"{VALUES_YAML.relative_to(ROOT)}: no '{begin}' ... '{end}' block")
    indent = match.group("indent")
    return text[:match.start()] + f"{indent}{begin}\n{body}{indent}{end}\n" + text[match.end():]


def render_values(current: str) -> str:
    text = replace_region(current, "topics", "specs", render_values_topics())
    for service in SERVICES:
        text = replace_region(text, "settings", service, render_values_service(service))
    return text


def expected_files() -> dict[Path, str]:
    return {
        TOPICS_TXT: render_topics_txt(),
        COMPOSE_SETTINGS: render_compose_settings(),
        VALUES_YAML: render_values(VALUES_YAML.read_text()),
        CHART_FEATURES_YAML: FEATURES_YAML.read_text(),
        CLICKHOUSE_INIT_SQL: clickhouse_init_sql(),
    }


def clickhouse_init_sql() -> str:
    from torghut_strategies.clickhouse import schema

    return schema.init_sql()


def stale_files(expected: dict[Path, str] | None = None) -> list[Path]:
    expected = expected_files() if expected is None else expected
    return [path for path, text in expected.items() if not path.exists() or path.read_text() != text]


def missing_services() -> list[str]:
    """Services whose settings module does not exist yet."""
    return [service for service in SERVICES if settings_class(SERVICES[service]) is None]


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/generate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale; write nothing")
    args = parser.parse_args(list(argv) if argv is not None else None)
    expected = expected_files()
    stale = stale_files(expected)
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `uv run python deploy/generate.py`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[path])
        print(f"wrote {path.relative_to(ROOT)}")
    for service in missing_services():
        print(f"note: {SERVICES[service]}.settings does not exist yet; {service} gets the common variables only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
