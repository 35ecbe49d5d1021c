"""The `torghut` command against the real broker: control, tail, replay dump / load / copy, status lag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from torghut_cli import consoles, kafka_io
from torghut_cli.commands import status
from torghut_cli.commands.control import cmd_control
from torghut_cli.commands.replay import cmd_replay
from torghut_cli.commands.status import cmd_status
from torghut_cli.main import build_parser
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_contracts.headers import MessageHeaders
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_runtime.testing import create_topics_for, produce, read_records


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_demo_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`torghut status` probes the services a running demo lists; none here, whatever the checkout holds."""
    monkeypatch.setattr(status, "SERVICES_FILE", tmp_path / "services.json")


@pytest.fixture
async def signals_topic(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, partitions=2)
    name = topic_namespace + topics.TA_SIGNALS.name
    for seq, symbol in enumerate(["AAPL", "MSFT", "AAPL", "NVDA", "AAPL"]):
        signal = example(topics.TA_SIGNALS.name).model_copy(update={"symbol": symbol, "seq": seq})
        headers = MessageHeaders.new(topics.TA_SIGNALS.name, correlation_id=f"corr-{seq % 2}")
        await produce(kafka_bootstrap, name, signal, key=symbol, headers=headers)
    return name


async def test_dump_filters_by_key_and_header_and_load_restores_into_a_sandbox(
        kafka_bootstrap: str, signals_topic: str, topic_namespace: str, tmp_path: Path) -> None:
    dump = tmp_path / "aapl.jsonl"
    args = parse("--bootstrap", kafka_bootstrap, "replay", "dump", signals_topic, "--out", str(dump), "--key", "AAPL",
                 "--header", "x-correlation-id=corr-0")
    assert await cmd_replay(args) == 0
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted(line["value"]["seq"] for line in lines) == [0, 2, 4]
    assert all(line["key"] == "AAPL" for line in lines)

    target = f"sandbox.{topic_namespace}{topics.TA_SIGNALS.name}"
    await create_topics_for(kafka_bootstrap, f"sandbox.{topic_namespace}", topics.TA_SIGNALS)
    assert await cmd_replay(parse("--bootstrap", kafka_bootstrap, "replay", "load", str(dump), "--topic", target)) == 0
    loaded = await read_records(kafka_bootstrap, target, expect=3, settle=0.2)
    assert sorted(r.model(topics.TA_SIGNALS).seq for r in loaded) == [0, 2, 4]
    for record in loaded:
        assert record.headers["x-replay-original-topic"] == signals_topic
        assert record.headers["x-message-id"], "the original message id travels, so consumers deduplicate"


async def test_copy_to_the_sandbox_and_refuse_production(kafka_bootstrap: str, signals_topic: str,
                                                          topic_namespace: str, tmp_path: Path) -> None:
    await create_topics_for(kafka_bootstrap, f"sandbox.{topic_namespace}", topics.TA_SIGNALS)
    args = parse("--bootstrap", kafka_bootstrap, "replay", "copy", signals_topic, "--prefix", "sandbox.",
                 "--key", "NVDA")
    assert await cmd_replay(args) == 0
    copied = await read_records(kafka_bootstrap, "sandbox." + signals_topic, expect=1, settle=0.2)
    assert [r.key for r in copied] == ["NVDA"]

    dump = tmp_path / "x.jsonl"
    dump.write_text("")
    from torghut_cli.windows import ProductionTopicRefused

    with pytest.raises(ProductionTopicRefused):
        await cmd_replay(parse("--bootstrap", kafka_bootstrap, "replay", "load", str(dump), "--topic",
                               topics.DECISIONS.name))


async def test_kill_switch_and_trading_state_publish_full_commands(kafka_bootstrap: str,
                                                                    torghut_topics: list[str]) -> None:
    scope = "acct-cli-test"
    assert await cmd_control(parse("--bootstrap", kafka_bootstrap, "kill-switch", "off", "--scope", scope)) == 0
    assert await cmd_control(parse("--bootstrap", kafka_bootstrap, "trading-state", "HALTED", "--scope", scope)) == 0
    records = await read_records(kafka_bootstrap, topics.CONTROL.name, expect=2, timeout=10)
    mine = [r.model(topics.CONTROL) for r in records if r.key == scope]
    assert [(c.kill_switch, c.trading_state.value) for c in mine[-2:]] == [(False, "ACTIVE"), (False, "HALTED")]


async def test_status_reports_consumer_lag(kafka_bootstrap: str, signals_topic: str, topic_namespace: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    group = f"{topic_namespace}lagcheck.{topics.TA_SIGNALS.name}"
    consumer = AIOKafkaConsumer(signals_topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=1000,
                                heartbeat_interval_ms=200)
    await consumer.start()
    try:
        await consumer.getone()  # joins the group
        await consumer.commit({TopicPartition(signals_topic, 0): 0, TopicPartition(signals_topic, 1): 0})
    finally:
        await consumer.stop()
    lag = await kafka_io.group_lag(kafka_bootstrap, group, signals_topic)
    assert sum(v or 0 for v in lag.values()) == 5
    assert await cmd_status(parse("--bootstrap", kafka_bootstrap, "status")) == 0


async def test_status_reports_the_lag_of_a_group_reading_several_topics(
        kafka_bootstrap: str, signals_topic: str, topic_namespace: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    group = f"{topic_namespace}lagcheck.state"  # a service's shared consumer
    control_topic = topic_namespace + topics.CONTROL.name
    await create_test_topics(kafka_bootstrap, [control_topic])
    consumer = AIOKafkaConsumer(signals_topic, control_topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=1000,
                                heartbeat_interval_ms=200)
    await consumer.start()
    try:
        await consumer.getone()
        await consumer.commit({TopicPartition(signals_topic, 0): 0, TopicPartition(control_topic, 0): 0})
    finally:
        await consumer.stop()
    candidates = [topic_namespace + spec.name for spec in topics.ALL_TOPICS]
    assert await kafka_io.committed_topics(kafka_bootstrap, group, candidates) == sorted([control_topic,
                                                                                          signals_topic])
    capsys.readouterr()
    monkeypatch.setattr(consoles.out, "width", 250)  # one table row per line
    assert await cmd_status(parse("--bootstrap", kafka_bootstrap, "status")) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if group in line]
    assert sorted(row.split("│")[2].strip() for row in rows) == sorted([control_topic, signals_topic])


async def test_status_counts_every_record_of_a_batched_produce(kafka_bootstrap: str, topic_namespace: str) -> None:
    """Tansu lists a partition's end as the last batch's start + 1: ten records sent as one batch
    must still show an end of 10 and a lag of 10, not 1."""
    from aiokafka import AIOKafkaProducer
    from torghut_embedded.kafka import TANSU_PRODUCER_SETTINGS

    name = topic_namespace + "batched"
    await create_test_topics(kafka_bootstrap, [name])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=50, **TANSU_PRODUCER_SETTINGS)
    await producer.start()
    try:
        for future in [await producer.send(name, b"%d" % i) for i in range(10)]:
            await future
    finally:
        await producer.stop()
    group = f"{topic_namespace}batched-reader"
    consumer = AIOKafkaConsumer(name, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=1000, heartbeat_interval_ms=200)
    await consumer.start()
    try:
        await consumer.getone()
        await consumer.commit({TopicPartition(name, 0): 0})
    finally:
        await consumer.stop()
    assert [(p.beginning, p.end) for p in await kafka_io.describe_topic(kafka_bootstrap, name)] == [(0, 10)]
    assert await kafka_io.group_lag(kafka_bootstrap, group, name) == {0: 10}


async def test_status_lists_what_went_to_the_dead_letter_topics(kafka_bootstrap: str, signals_topic: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    for value in (b"{not json", b"{}"):
        await produce(kafka_bootstrap, signals_topic + ".dlq", value, key="AAPL")
    assert (await kafka_io.dead_letter_counts(kafka_bootstrap))[signals_topic + ".dlq"] == 2
    await cmd_status(parse("--bootstrap", kafka_bootstrap, "status"))
    assert "dead letters" in capsys.readouterr().out
