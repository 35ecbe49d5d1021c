"""``--signals kafka://...`` and ``clickhouse://...`` against the real Tansu broker and a real ClickHouse.

The demo session's signals go into a topic (keyed by symbol over three partitions) or a table, and
the lane must see the same dataset as from a file: the same hash, the same artifacts, and the same
one-line errors for input it cannot use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer
from clickhouse_driver import Client
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_embedded.kafka import TANSU_PRODUCER_SETTINGS, create_test_topics
from torghut_research import remote_sources
from torghut_research.lane import LaneInputs, read_inputs, run_lane
from torghut_research.remote_clickhouse import canonical_value
from torghut_research.sources import load_signals

from ..conftest import DEMO_SIGNALS, EVIDENCE, REPO, SHIPPED_POLICY
from .test_lane import CONFIG, files, lane

LINES = DEMO_SIGNALS.read_bytes().splitlines()  # sorted by (event_ts, symbol, seq)
SIGNALS = [TaSignal.model_validate_json(line) for line in LINES]
HOUR = (datetime(2026, 2, 12, 15, 0, tzinfo=UTC), datetime(2026, 2, 12, 16, 0, tzinfo=UTC))


def dataset_hash(values: list[bytes]) -> str:
    return hashlib.sha256(b"".join(v + b"\n" for v in values)).hexdigest()


def in_hour(signal: TaSignal) -> bool:
    return HOUR[0] <= signal.event_ts < HOUR[1]


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def lane_args(write: Callable[[str, Any], Path]) -> dict[str, str]:
    return {"--strategy-config": str(write("config.yaml", CONFIG)), "--gate-policy": str(SHIPPED_POLICY),
            "--evidence": str(write("evidence.json", EVIDENCE))}


def same_artifacts_but_the_source(signals_a: str, signals_b: str, args: dict[str, str], tmp_path: Path) -> None:
    """Both inputs give one dataset hash, and the lane writes the same bytes from both once the
    recorded source (which names the file or the URL) is set alike."""

    def inputs(signals: str) -> LaneInputs:
        return read_inputs(signals=signals, strategy_config=Path(args["--strategy-config"]),
                           gate_policy=Path(args["--gate-policy"]), evidence=Path(args["--evidence"]),
                           baseline_config=None, target="paper", approval_token=None, evaluated_at=None)

    a, b = inputs(signals_a), inputs(signals_b)
    assert a.hashes == b.hashes
    assert (a.signals.origin, b.signals.origin) == (signals_a, remote_sources.mask(signals_b))
    relabelled = dataclasses.replace(b, signals=dataclasses.replace(b.signals, origin=a.signals.origin))
    first = run_lane(a, tmp_path / "from-a", version="test")
    second = run_lane(relabelled, tmp_path / "from-b", version="test")
    assert first["manifest_sha256"] == second["manifest_sha256"] and first["run_id"] == second["run_id"]
    written = files(tmp_path / "from-a")
    assert "gates/gate-evaluation.json" in written and written == files(tmp_path / "from-b")


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


# -- ClickHouse ------------------------------------------------------------------------------------
FLOAT_FIELDS = ("price", "macd", "macd_signal", "macd_hist", "rsi14", "ema12", "ema26", "vwap", "bid", "ask",
                "bid_size", "ask_size", "spread_bps", "volume")
#: A signal table with the contract's own column names (in ClickHouse 18.16's SQL subset).
TABLE_DDL = ("CREATE TABLE {name} (symbol String, event_ts DateTime('UTC'), seq UInt64, ingest_ts DateTime('UTC'), "
             "source String, window_size String, "
             + ", ".join(f"{f} Nullable(Float64)" for f in FLOAT_FIELDS)
             + ") ENGINE = ReplacingMergeTree(ingest_ts) PARTITION BY toDate(event_ts)"
             " ORDER BY (symbol, event_ts, seq)")
COLUMNS = ("symbol", "event_ts", "seq", "ingest_ts", "source", "window_size", *FLOAT_FIELDS)


def row(signal: TaSignal, *, ingested: timedelta = timedelta(seconds=1), **changes: Any) -> tuple[Any, ...]:
    ts = signal.event_ts.replace(tzinfo=None)
    values: dict[str, Any] = {"symbol": signal.symbol, "event_ts": ts, "seq": signal.seq, "ingest_ts": ts + ingested,
                              "source": signal.source, "window_size": signal.window or ""}
    for name in FLOAT_FIELDS:
        number: Decimal | None = getattr(signal, name)
        values[name] = float(number) if number is not None else None
    values |= changes
    return tuple(values[c] for c in COLUMNS)


@pytest.fixture
def signal_db(clickhouse_server: ClickHouseServer, clickhouse_database: str) -> Iterator[Client]:
    """A client on a fresh database holding ``ta_signals``: the demo session, plus older, not yet
    merged versions of two rows (whose MACD the lane must not see): read in batches of 128, the
    first pair lands inside one batch, the second across two (its newest version ends a batch)."""
    client = Client(clickhouse_server.host, port=clickhouse_server.tcp_port, database=clickhouse_database)
    client.execute(TABLE_DDL.format(name="ta_signals"))
    client.execute(f"INSERT INTO ta_signals ({', '.join(COLUMNS)}) VALUES", [row(s) for s in SIGNALS])
    client.execute(f"INSERT INTO ta_signals ({', '.join(COLUMNS)}) VALUES",
                   [row(SIGNALS[i], ingested=timedelta(0), macd=-123.0) for i in (700, 766)])
    yield client
    client.disconnect()


def clickhouse_url(server: ClickHouseServer, database: str, query: str = "") -> str:
    return f"clickhouse://{server.host}:{server.tcp_port}/{database}" + (f"?{query}" if query else "")


def test_a_clickhouse_table_is_the_same_dataset_and_the_same_artifacts_as_the_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clickhouse_server: ClickHouseServer,
        clickhouse_database: str, signal_db: Client, lane_args: dict[str, str]) -> None:
    monkeypatch.setattr(remote_sources, "CLICKHOUSE_BATCH_ROWS", 128)  # 16 batches (see signal_db)
    canonical = [canonical_value(s) for s in SIGNALS]  # the table's order: (event_ts, symbol, seq)
    as_file = tmp_path / "canonical.jsonl"
    as_file.write_bytes(b"".join(v + b"\n" for v in canonical))
    url = clickhouse_url(clickhouse_server, clickhouse_database, "table=ta_signals&user=default&password=")
    same_artifacts_but_the_source(str(as_file), url, lane_args, tmp_path)
    assert load_signals(url).dataset_hash == dataset_hash(canonical)

    since, until = (t.isoformat() for t in HOUR)  # '+00:00' written as is: read as an offset, not a space
    window = load_signals(clickhouse_url(clickhouse_server, clickhouse_database, f"since={since}&until={until}"))
    assert window.dataset_hash == dataset_hash([v for v, s in zip(canonical, SIGNALS, strict=True) if in_hour(s)])


def test_the_canonical_form_does_not_depend_on_the_column_type() -> None:
    signal = SIGNALS[100].model_copy(update={"volume": Decimal("68691.0"), "bid_size": Decimal("1.5E+3"),
                                             "macd": Decimal("-0.0")})
    text = canonical_value(signal).decode()
    assert '"volume":"68691"' in text and '"bid_size":"1500"' in text and '"macd":"0"' in text
    assert "null" not in text and '"event_ts":"2026-02-12T14:51:00Z"' in text


@pytest.mark.parametrize("setup", ["bad-row", "unknown-table", "unknown-database", "wrong-password",
                                   "unreachable", "credentials-in-host", "empty-window"])
def test_bad_clickhouse_input_stops_the_lane_with_one_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, clickhouse_server: ClickHouseServer,
        clickhouse_database: str, signal_db: Client, lane_args: dict[str, str], setup: str) -> None:
    db = clickhouse_database
    url = clickhouse_url(clickhouse_server, db)
    if setup == "bad-row":
        signal_db.execute(f"INSERT INTO ta_signals ({', '.join(COLUMNS)}) VALUES", [row(SIGNALS[3], symbol="amd")])
        message = (f"{url}: {db}.ta_signals row (symbol='amd', event_ts=2026-02-12 14:31:00, seq=1): "
                   "not a valid torghut.ta.signals.v1 signal: symbol: String should match pattern")
    elif setup == "unknown-table":
        url = clickhouse_url(clickhouse_server, db, "table=ta_signalz")
        message = f"{url}: ClickHouse table {db}.ta_signalz does not exist"
    elif setup == "unknown-database":
        url = clickhouse_url(clickhouse_server, "nowhere")
        message = f"{url}: ClickHouse at {clickhouse_server.host}:{clickhouse_server.tcp_port}: Code: 81"
    elif setup == "wrong-password":
        url = clickhouse_url(clickhouse_server, db, "user=default&password=hunter2")
        message = url.replace("hunter2", "***") + ": ClickHouse at"
    elif setup == "unreachable":
        url = f"clickhouse://127.0.0.1:{closed_port()}/{db}"
        message = f"{url}: ClickHouse at 127.0.0.1:"
    elif setup == "credentials-in-host":
        url = f"clickhouse://default:hunter2@127.0.0.1:{clickhouse_server.tcp_port}/{db}"
        message = "give credentials as ?user=..&password=.."
    else:
        url = clickhouse_url(clickhouse_server, db, "since=2026-02-13T00:00:00Z")
        message = f"{url}: no torghut.ta.signals.v1 signals"
    started = time.monotonic()
    code, summary, err = lane(capsys, "--signals", url, *[x for kv in lane_args.items() for x in kv],
                              "--output-dir", str(tmp_path / "out"))
    assert code == 2 and summary is None
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "hunter2" not in err, "a password is never shown"
    assert time.monotonic() - started < 15
    assert not (tmp_path / "out").exists()
