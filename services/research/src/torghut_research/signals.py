"""Loading the signals a lane runs on: every record validated as a ``torghut.ta.signals.v1`` signal.

``--signals`` takes:

* a JSONL file of signals, one per line (the demo's dataset, a ClickHouse export);
* a file written by ``torghut replay dump`` (lines with ``topic``/``value``), or a directory of them;
* ``kafka://host:port/<topic>?since=..&until=..`` or ``clickhouse://...`` (see :mod:`.remote_sources`).

Rows keep the order signal-trigger would receive them in: a file's line order; for dumps, each
partition in offset order, partitions merged by record time. A record that is not a valid signal
stops the lane with its file, line and field. The dataset hash is SHA-256 over every signal's
message value, in that order, each followed by a newline: the first link of the hash chain.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_strategies.frame import SignalColumns, to_ns

from .config import describe
from .errors import InputError

Floats = npt.NDArray[np.float64]
REPLAY_HEADER = "x-replay-original-topic"


@dataclass(frozen=True)
class Inbound:
    """One record as read: where it came from (for errors), its value, and what the broker knew."""

    locator: str
    value: bytes
    timestamp_ms: int | None = None
    replayed: bool = False


@dataclass
class SignalSet:
    origin: str
    columns: SignalColumns
    price: Floats
    bid: Floats
    ask: Floats
    spread_bps: Floats
    volume: Floats
    record_ts_ms: Floats
    """When the broker took the record (NaN when the input has no such time, or it is a replay)."""
    dataset_hash: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """``torghut.decisions.v1`` values found beside the signals in a dump (for the LLM error rate)."""

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def symbols(self) -> list[str]:
        return sorted(set(self.columns.symbol.tolist()))


def load_signals(spec: str) -> SignalSet:
    """The signals named by ``--signals``; :class:`InputError` names the record and the field."""
    if spec.startswith(("kafka://", "clickhouse://")):
        from .remote_sources import read_remote

        return read_remote(spec)
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json") and p.is_file())
        if not files:
            raise InputError(f"{path}: no .jsonl dump files in this directory")
        return _from_dumps(str(path), files)
    try:
        with path.open("rb") as handle:
            first = next((line for line in handle if line.strip()), b"")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the signals: {exc.strerror or exc}") from None
    if _is_dump_line(first):
        return _from_dumps(str(path), [path])
    return build_signal_set(str(path), _file_lines(path))


def _is_dump_line(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(value, dict) and "topic" in value and ("value" in value or "value_base64" in value)


def _file_lines(path: Path) -> Iterator[Inbound]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield Inbound(f"{path}:{number}", line.strip())


def _from_dumps(origin: str, files: list[Path]) -> SignalSet:
    partitions: dict[tuple[str, int], list[tuple[int, int, Inbound]]] = {}
    decisions: list[dict[str, Any]] = []
    for path in files:
        for number, raw in _dump_records(path):
            topic = str(raw.get("topic", ""))
            locator = f"{path}:{number}"
            if topic.endswith(topics.DECISIONS.name) and isinstance(raw.get("value"), dict):
                decisions.append(raw["value"])
            if not topic.endswith(topics.TA_SIGNALS.name):
                continue
            if "value" not in raw:
                raise InputError(f"{locator}: a signal record whose value is not JSON")
            value = json.dumps(raw["value"], ensure_ascii=False, separators=(",", ":")).encode()
            headers = raw.get("headers") or {}
            timestamp = raw.get("timestamp_ms")
            inbound = Inbound(locator, value, int(timestamp) if isinstance(timestamp, int) else None,
                              replayed=REPLAY_HEADER in headers)
            partitions.setdefault((topic, int(raw.get("partition", 0))), []).append(
                (int(raw.get("offset", -1)), number, inbound))
    ordered = [sorted(records, key=lambda r: (r[0], r[1])) for _, records in sorted(partitions.items())]
    merged = heapq.merge(*([r[2] for r in records] for records in ordered), key=lambda i: i.timestamp_ms or 0)
    signal_set = build_signal_set(origin, merged)
    signal_set.decisions = decisions
    return signal_set


def _dump_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the dump: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}:{number}: not a dumped record: {exc}") from None
            if not isinstance(raw, dict) or "topic" not in raw:
                raise InputError(f"{path}:{number}: not a dumped record (no 'topic')")
            yield number, raw


_FLOAT_FIELDS = ("price", "macd", "macd_signal", "rsi14", "bid", "ask", "spread_bps", "volume")


def build_signal_set(origin: str, records: Iterable[Inbound]) -> SignalSet:
    """Validate every record and lay the signals out as columns (no signal objects are kept)."""
    values: list[bytes] = []
    symbol, stream, source, seq, event_ns, stamp = [], [], [], [], [], []
    numbers: dict[str, list[float]] = {name: [] for name in _FLOAT_FIELDS}
    digest = hashlib.sha256()
    nan = float("nan")
    for record in records:
        try:
            signal = TaSignal.model_validate_json(record.value)
        except ValidationError as exc:
            raise InputError(f"{record.locator}: not a valid {topics.TA_SIGNALS.name} signal: "
                             f"{describe(exc)}") from None
        values.append(record.value)
        digest.update(record.value)
        digest.update(b"\n")
        symbol.append(signal.symbol)
        stream.append(signal.window or "")
        source.append(signal.source)
        seq.append(signal.seq)
        event_ns.append(to_ns(signal.event_ts))
        stamp.append(nan if record.timestamp_ms is None or record.replayed else float(record.timestamp_ms))
        for name, column in numbers.items():
            value = getattr(signal, name)
            column.append(nan if value is None else float(value))
    if not values:
        raise InputError(f"{origin}: no {topics.TA_SIGNALS.name} signals")

    @lru_cache(maxsize=4096)
    def signal_at(row: int) -> TaSignal:
        return TaSignal.model_validate_json(values[row])

    def floats(name: str) -> Floats:
        return np.array(numbers[name], dtype=np.float64)

    columns = SignalColumns(
        symbol=np.array(symbol, dtype=object), stream=np.array(stream, dtype=object),
        seq=np.array(seq, dtype=np.int64), event_ns=np.array(event_ns, dtype=np.int64),
        source=np.array(source, dtype=object), macd=floats("macd"), macd_signal=floats("macd_signal"),
        rsi14=floats("rsi14"), signal_at=signal_at)
    return SignalSet(origin, columns, floats("price"), floats("bid"), floats("ask"), floats("spread_bps"),
                     floats("volume"), np.array(stamp, dtype=np.float64), digest.hexdigest())
