"""``--signals clickhouse://...`` against a real ClickHouse.

The demo session's signals go into a table (with older, not yet merged versions of two rows), and the
lane must see the same dataset as from a file: the same hash, the same artifacts, and the same
one-line errors for input it cannot use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from torghut_contracts.models import TaSignal
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_research import remote_sources
from torghut_research.remote_clickhouse import canonical_value
from torghut_research.sources import load_signals

from .conftest import HOUR, SIGNALS, closed_port, dataset_hash, in_hour, lane, same_artifacts_but_the_source

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
