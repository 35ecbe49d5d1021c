"""``--signals kafka://...`` against the real Tansu broker.

The demo session's signals go into a topic (keyed by symbol over three partitions), and the lane must
see the same dataset as from a file: the same hash, the same artifacts. ``since`` and ``until`` select
the window by record time; input it cannot use (or a broker it cannot reach) stops it with one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_embedded.kafka import TANSU_PRODUCER_SETTINGS, create_test_topics
from torghut_research.sources import load_signals

from ..conftest import DEMO_SIGNALS, REPO
from .conftest import HOUR, LINES, SIGNALS, closed_port, dataset_hash, in_hour, lane, same_artifacts_but_the_source


# -- Kafka -----------------------------------------------------------------------------------------
def produce(bootstrap: str, topic: str, values: list[bytes], *, replayed: bool, partitions: int = 3,
            extra_headers: dict[str, str] | None = None) -> None:
    """Each value keyed by its symbol, with a record time of its event time plus its line number in
    milliseconds: the file's order is then the order by record time, as a live TA source gives it."""

    async def send() -> None:
        await create_test_topics(bootstrap, [topic], partitions=partitions)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **TANSU_PRODUCER_SETTINGS)
        await producer.start()
        try:
            sent, stamp, key = [], 0, b""
            for number, value in enumerate(values):
                if value.startswith(b"{"):  # a test's garbage value keeps the previous key and time
                    body = json.loads(value)
                    stamp = int(datetime.fromisoformat(body["event_ts"]).timestamp() * 1000) + number
                    key = str(body["symbol"]).encode()
                headers = [("x-replay-original-topic", topics.TA_SIGNALS.name.encode())] if replayed else []
                headers += [(k, v.encode()) for k, v in (extra_headers or {}).items()]
                sent.append(await producer.send(topic, value, key=key, timestamp_ms=stamp, headers=headers))
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(send())


@pytest.fixture
def replayed_topic(kafka_bootstrap: str, topic_namespace: str) -> str:
    """The demo session as ``torghut replay load`` would put it into a topic: replay headers on."""
    name = topic_namespace + topics.TA_SIGNALS.name
    produce(kafka_bootstrap, name, LINES, replayed=True)
    return name


def test_a_kafka_window_is_the_same_dataset_and_the_same_artifacts_as_the_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, kafka_bootstrap: str, replayed_topic: str,
        lane_args: dict[str, str]) -> None:
    url = f"kafka://{kafka_bootstrap}/{replayed_topic}"
    same_artifacts_but_the_source(str(DEMO_SIGNALS), url, lane_args, tmp_path)
    code, summary, err = lane(capsys, "--signals", url, *[x for kv in lane_args.items() for x in kv],
                              "--output-dir", str(tmp_path / "cli"))
    assert code == 0 and summary is not None, err
    spec = json.loads((tmp_path / "cli/research/candidate-spec.json").read_text())
    assert spec["signal_source"] == url and spec["signal_count"] == len(LINES)
    assert spec["inputs"]["signals"] == dataset_hash(LINES)


def test_since_and_until_select_the_window_by_record_time(kafka_bootstrap: str, topic_namespace: str) -> None:
    live = topic_namespace + "live.signals"
    produce(kafka_bootstrap, live, LINES, replayed=False)
    since, until = (t.isoformat().replace("+00:00", "Z") for t in HOUR)
    window = load_signals(f"kafka://{kafka_bootstrap}/{live}?since={since}&until={until}")
    expected = [line for line, signal in zip(LINES, SIGNALS, strict=True) if in_hour(signal)]
    assert len(window) == len(expected) == 60 * 5
    assert window.dataset_hash == dataset_hash(expected), "the same records, in the file's order"
    assert np.isfinite(window.record_ts_ms).all(), "live records keep their broker time (staleness is measured)"
    offset = load_signals(f"kafka://{kafka_bootstrap}/{live}?since=2026-02-12T16:00:00%2B01:00")  # = 15:00Z
    assert len(offset) == sum(1 for s in SIGNALS if s.event_ts >= HOUR[0])


def test_replayed_records_carry_no_broker_time(kafka_bootstrap: str, replayed_topic: str) -> None:
    signal_set = load_signals(f"kafka://{kafka_bootstrap}/{replayed_topic}?until=2026-02-12T14:41:00Z")
    assert len(signal_set) == 50 and np.isnan(signal_set.record_ts_ms).all()


def bad_remote_input(kafka_bootstrap: str, topic_namespace: str, setup: str) -> tuple[str, str]:
    """(--signals URL, what the one error line must say) for a broken Kafka input."""
    topic = topic_namespace + "bad.signals"
    if setup == "bad-record":
        bad = json.dumps(json.loads(LINES[2]) | {"rsi14": "120"}).encode()
        produce(kafka_bootstrap, topic, [LINES[0], LINES[1], bad], replayed=False, partitions=1)
        return (f"kafka://{kafka_bootstrap}/{topic}",
                f"{topic}:0:2: not a valid torghut.ta.signals.v1 signal: rsi14: must be at most 100")
    if setup == "not-json":
        produce(kafka_bootstrap, topic, [LINES[0], b"\x00\x01 not json"], replayed=False, partitions=1)
        return f"kafka://{kafka_bootstrap}/{topic}", f"{topic}:0:1: not a valid torghut.ta.signals.v1 signal"
    if setup == "other-schema":
        produce(kafka_bootstrap, topic, LINES[:2], replayed=False, partitions=1,
                extra_headers={"x-schema": topics.TRIGGERS.name})
        return (f"kafka://{kafka_bootstrap}/{topic}",
                f"{topic}:0:0: x-schema 'torghut.triggers.v1' is not 'torghut.ta.signals.v1'")
    if setup == "empty-window":
        produce(kafka_bootstrap, topic, LINES[:5], replayed=False, partitions=1)
        url = f"kafka://{kafka_bootstrap}/{topic}?since=2026-02-13T00:00:00Z"
        return url, f"{url}: no torghut.ta.signals.v1 signals"
    if setup == "missing-topic":
        url = f"kafka://{kafka_bootstrap}/{topic_namespace}nothing.here"
        return url, f"{url}: topic '{topic_namespace}nothing.here' does not exist"
    if setup == "no-topic":
        return f"kafka://{kafka_bootstrap}/", "no topic: write kafka://HOST:PORT/TOPIC"
    if setup == "bad-since":
        return f"kafka://{kafka_bootstrap}/x?since=noon", "since='noon' is not an ISO-8601 time"
    assert setup == "naive-until"
    return f"kafka://{kafka_bootstrap}/x?until=2026-02-12T16:00:00", "until='2026-02-12T16:00:00' has no time zone"


@pytest.mark.parametrize("setup", ["bad-record", "not-json", "other-schema", "empty-window", "missing-topic",
                                   "no-topic", "bad-since", "naive-until"])
def test_bad_kafka_input_stops_the_lane_with_one_line_and_leaves_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, kafka_bootstrap: str, topic_namespace: str,
        lane_args: dict[str, str], setup: str) -> None:
    url, message = bad_remote_input(kafka_bootstrap, topic_namespace, setup)
    out = tmp_path / "out"
    code, summary, err = lane(capsys, "--signals", url, *[x for kv in lane_args.items() for x in kv],
                              "--output-dir", str(out))
    assert code == 2 and summary is None
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists(), "no output directory"
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []


def run_cli(*argv: str, timeout: float = 60) -> tuple[int, str, float]:
    """The real command in a fresh process: what an operator's terminal shows on stderr, and how long it took."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "torghut_research", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "default"}, cwd=REPO)
    return done.returncode, done.stderr, time.monotonic() - started


def test_an_unreachable_broker_fails_quickly_with_one_line(tmp_path: Path, lane_args: dict[str, str]) -> None:
    url = f"kafka://127.0.0.1:{closed_port()}/{topics.TA_SIGNALS.name}"
    code, err, took = run_cli("lane", "--signals", url, *[x for kv in lane_args.items() for x in kv],
                              "--output-dir", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"torghut-research: {url}: cannot reach a Kafka broker") and len(err.splitlines()) == 1, err
    assert took < 20, "seconds, not a hang (interpreter start-up included)"
    assert not (tmp_path / "out").exists()
