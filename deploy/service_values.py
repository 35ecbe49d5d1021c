"""What each deploy target sets for each service, where it differs from the service's settings defaults.

The generator's tables (``deploy/generate.py``): which services there are, which variables are set
once for the whole release, and the values compose (the stack's own hosts) and the chart (in-cluster
addresses) give a service instead of its defaults. :mod:`renderers` reads them to render the files;
tests/deploy check compose and the chart against them. The variables themselves and their defaults
come from each settings class (``deploy/settings_env.py``).
"""

from __future__ import annotations

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
