"""CLICKHOUSE_* variables: a missing or malformed one stops start-up naming it, never echoing the URL."""

from __future__ import annotations

import pytest
from torghut_clickhouse_sink.settings import SinkSettings
from torghut_runtime import ConfigError, load_settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("CLICKHOUSE_URL", "clickhouse://writer:s3cret@clickhouse:9000/torghut")
    return monkeypatch


def test_defaults(environment: pytest.MonkeyPatch) -> None:
    settings = load_settings(SinkSettings)
    assert settings.clickhouse_url.get_secret_value().endswith("@clickhouse:9000/torghut")
    assert "s3cret" not in repr(settings), "the URL carries the password"
    assert settings.clickhouse_sink_create_tables is True and settings.clickhouse_sink_batch_size == 500
    assert settings.table_names() == {"ta_microbars": "ta_microbars", "ta_signals": "ta_signals"}
    assert settings.schema_name == "clickhouse_sink"


def test_variables_are_read(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("CLICKHOUSE_SINK_CREATE_TABLES", "false")
    environment.setenv("CLICKHOUSE_SINK_SIGNALS_TABLE", "signals_b")
    environment.setenv("CLICKHOUSE_SINK_BATCH_SIZE", "1000")
    settings = load_settings(SinkSettings)
    assert settings.clickhouse_sink_create_tables is False and settings.clickhouse_sink_batch_size == 1000
    assert settings.table_names()["ta_signals"] == "signals_b"


def test_the_url_is_required(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("CLICKHOUSE_URL")
    with pytest.raises(ConfigError, match="CLICKHOUSE_URL is required"):
        load_settings(SinkSettings)


@pytest.mark.parametrize(("url", "problem"), [
    ("http://writer:s3cret@clickhouse:8123/torghut", "clickhouse://"),
    ("clickhouse://writer:s3cret@/torghut", "must name a host"),
    ("clickhouse://writer:s3cret@clickhouse:9000/torghut/extra", "just the database name"),
])
def test_a_bad_url_is_named_without_its_password(environment: pytest.MonkeyPatch, url: str, problem: str) -> None:
    environment.setenv("CLICKHOUSE_URL", url)
    with pytest.raises(ConfigError, match="CLICKHOUSE_URL") as caught:
        load_settings(SinkSettings)
    assert problem in str(caught.value) and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("variable", "value"), [
    ("CLICKHOUSE_SINK_MICROBARS_TABLE", "bars; DROP TABLE x"),
    ("CLICKHOUSE_SINK_BATCH_SIZE", "0"),
    ("CLICKHOUSE_SINK_TIMEOUT_S", "-1"),
])
def test_a_bad_variable_is_named(environment: pytest.MonkeyPatch, variable: str, value: str) -> None:
    environment.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings(SinkSettings)


def test_the_two_tables_must_differ(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("CLICKHOUSE_SINK_MICROBARS_TABLE", "ta_signals")
    with pytest.raises(ConfigError, match="CLICKHOUSE_SINK_MICROBARS_TABLE and CLICKHOUSE_SINK_SIGNALS_TABLE"):
        load_settings(SinkSettings)
