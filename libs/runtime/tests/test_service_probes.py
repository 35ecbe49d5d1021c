"""Probes and settings: /readyz answers for broker, database and migrations; bad config names the variable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from torghut_runtime import ConfigError, ServiceRuntime, ServiceSettings, load_settings
from torghut_runtime.testing import test_settings

MIGRATIONS = Path(__file__).parent / "migrations"


async def _get(runtime: ServiceRuntime, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=runtime.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get(path)


async def test_ready_when_broker_database_and_migrations_answer(kafka_bootstrap: str, fresh_database_url: str) -> None:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix="", service_name="probe-test")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)
    async with runtime.running():
        ready = await _get(runtime, "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": True, "migrations": True, "broker": True, "lanes_moving": True}
        assert (await _get(runtime, "/healthz")).status_code == 200
        metrics = await _get(runtime, "/metrics")
        assert "torghut_consumer_messages_total" in metrics.text
        assert "torghut_lanes_stalled 0.0" in metrics.text


async def test_not_ready_when_the_database_is_unreachable(kafka_bootstrap: str) -> None:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap,
                             database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none", topic_prefix="",
                             service_name="probe-down")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False, uses_kafka=False)
    response = await runtime.readiness()
    assert response == {"database": False, "migrations": False}


async def test_not_ready_when_migrations_are_behind(kafka_bootstrap: str, fresh_database_url: str,
                                                    tmp_path: Path) -> None:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix="", service_name="probe-behind")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False, uses_kafka=False)
    async with runtime.running():
        newer = tmp_path / "versions"
        newer.mkdir()
        (newer / "0001_test.py").write_text((MIGRATIONS / "0001_test.py").read_text())
        (newer / "0002_more.py").write_text(
            'revision = "0002"\ndown_revision = "0001"\nbranch_labels = None\ndepends_on = None\n\n'
            "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n")
        runtime.migrations = newer
        assert (await runtime.readiness())["migrations"] is False


def test_bad_config_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("HTTP_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(ServiceSettings)
    message = str(caught.value)
    assert "KAFKA_BOOTSTRAP_SERVERS is required but not set" in message
    assert "DATABASE_URL" in message and "HTTP_PORT" in message


async def test_old_tracking_records_are_pruned(kafka_bootstrap: str, fresh_database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa
    from torghut_runtime.db import processed_messages

    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix="", service_name="prune-test")
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False, uses_kafka=False)
    async with runtime.running():
        now = datetime.now(UTC)
        async with runtime.engine.begin() as conn:
            for message_id, age in (("old", 40), ("recent", 1)):
                await conn.execute(processed_messages.insert().values(
                    consumer="c", message_id=message_id, topic="t", partition=0, offset=0, outputs="[]",
                    processed_at=now - timedelta(days=age)))
        assert await runtime.kafka.store.prune(now - timedelta(days=35)) == 1
        async with runtime.engine.connect() as conn:
            left = [r.message_id for r in await conn.execute(sa.select(processed_messages.c.message_id))]
    assert left == ["recent"]
