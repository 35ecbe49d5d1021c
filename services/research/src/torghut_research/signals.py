"""Loading the signals a lane runs on: every record validated as a ``torghut.ta.signals.v1`` signal.

``--signals`` takes:

* a JSONL file of signals, one per line (the demo's dataset, a ClickHouse export);
* a file written by ``torghut replay dump`` (lines with ``topic``/``value``), or a directory of them;
* ``kafka://host:port/<topic>?since=..&until=..`` or ``clickhouse://...`` (:mod:`.remote_sources`,
  chosen by :func:`.sources.load_signals`).

Rows keep the order signal-trigger would receive them in: a file's line order; for dumps, each
partition in offset order, partitions merged by record time. A record that is not a valid signal
stops the lane with its file, line and field. The dataset hash is SHA-256 over every signal's
message value, in that order, each followed by a newline: the first link of the hash chain.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from .parallel import fork_map, worth_forking

Floats = npt.NDArray[np.float64]
REPLAY_HEADER = "x-replay-original-topic"


@dataclass(frozen=True)
class Inbound:
    """One record as read: where it came from (file or topic, and line), its value, what the broker knew."""

    source: str
    line: int
    value: bytes
    timestamp_ms: int | None = None
    replayed: bool = False

    @property
    def locator(self) -> str:
        return f"{self.source}:{self.line}"


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


def load_local_signals(spec: str) -> SignalSet:
    """A JSONL file, a dump file or a directory of dumps; :class:`InputError` names the record and the field."""
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
                yield Inbound(str(path), number, line.strip())


def _from_dumps(origin: str, files: list[Path]) -> SignalSet:
    partitions: dict[tuple[str, int], list[tuple[int, int, Inbound]]] = {}
    decisions: list[dict[str, Any]] = []
    for path in files:
        for number, raw in dump_records(path):
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
            inbound = Inbound(str(path), number, value, int(timestamp) if isinstance(timestamp, int) else None,
                              replayed=REPLAY_HEADER in headers)
            partitions.setdefault((topic, int(raw.get("partition", 0))), []).append(
                (int(raw.get("offset", -1)), number, inbound))
    signal_set = build_signal_set(origin, merge_partitions(partitions))
    signal_set.decisions = decisions
    return signal_set


Partitions = Mapping[tuple[str, int], list[tuple[int, int, Inbound]]]
"""(topic, partition) -> its records as (offset, tie-breaker, record), in any order."""


def merge_partitions(partitions: Partitions) -> Iterator[Inbound]:
    """The order signal-trigger would receive the records in: each partition in offset order, the
    partitions merged by record time (ties: the lower topic/partition first).

    Dumps and ``kafka://`` windows both go through here, so a topic and its dump are the same dataset.
    """
    ordered = [sorted(records, key=lambda r: (r[0], r[1])) for _, records in sorted(partitions.items())]
    return heapq.merge(*([r[2] for r in records] for records in ordered), key=lambda i: i.timestamp_ms or 0)


def dump_records(path: Path, skip: Callable[[bytes], bool] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each dumped record with its line number; a line ``skip`` accepts (raw bytes) is passed over unparsed."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the dump: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or (skip is not None and skip(line)):
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
    """Validate every record and lay the signals out as columns (no signal objects are kept).

    The raw values live in one buffer with their offsets, not as a million small objects: forked
    workers read it without touching (and so copying) its pages.
    """
    blob, starts = bytearray(), array("q")
    sources: dict[str, int] = {}
    source_of, lines, stamps = array("i"), array("q"), array("d")
    digest = hashlib.sha256()
    for record in records:
        starts.append(len(blob))
        blob += record.value
        source_of.append(sources.setdefault(record.source, len(sources)))
        lines.append(record.line)
        stamps.append(float("nan") if record.timestamp_ms is None or record.replayed else float(record.timestamp_ms))
        digest.update(record.value)
        digest.update(b"\n")
    if not starts:
        raise InputError(f"{origin}: no {topics.TA_SIGNALS.name} signals")
    starts.append(len(blob))
    raw = RawValues(blob, np.frombuffer(starts, dtype=np.int64), list(sources), source_of, lines)
    middle = len(raw) // 2
    halves = fork_map(_validate, raw, [(0, middle), (middle, len(raw))], parallel=worth_forking(len(raw)))
    table = {name: np.concatenate([half[name] for half in halves]) for name in halves[0]}
    del halves

    @lru_cache(maxsize=4096)  # candidates of one strategy and row come together
    def signal_at(row: int) -> TaSignal:
        return TaSignal.model_validate_json(raw.value(row))

    columns = SignalColumns(
        symbol=table["symbol"], stream=table["stream"], seq=table["seq"], event_ns=table["event_ns"],
        source=table["source"], macd=table["macd"], macd_signal=table["macd_signal"], rsi14=table["rsi14"],
        signal_at=signal_at)
    return SignalSet(origin, columns, table["price"], table["bid"], table["ask"], table["spread_bps"],
                     table["volume"], np.frombuffer(stamps, dtype=np.float64), digest.hexdigest())


@dataclass(frozen=True)
class RawValues:
    blob: bytearray
    starts: npt.NDArray[np.int64]
    sources: list[str]
    source_of: array[int]
    lines: array[int]

    def __len__(self) -> int:
        return len(self.starts) - 1

    def value(self, row: int) -> bytes:
        return bytes(self.blob[self.starts[row]:self.starts[row + 1]])

    def locator(self, row: int) -> str:
        return f"{self.sources[self.source_of[row]]}:{self.lines[row]}"


def _validate(raw: RawValues, rows: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every value through the contract model, straight into preallocated columns.

    Strings are interned (a million signals name a hundred symbols), and no per-row float objects
    are kept, so memory stays near the columns' own size.
    """
    first, end = rows
    n = end - first
    table: dict[str, np.ndarray] = {name: np.full(n, np.nan) for name in _FLOAT_FIELDS}
    table |= {"seq": np.zeros(n, dtype=np.int64), "event_ns": np.zeros(n, dtype=np.int64),
              "symbol": np.empty(n, dtype=object), "stream": np.empty(n, dtype=object),
              "source": np.empty(n, dtype=object)}
    interned: dict[str, str] = {}
    numeric = [(name, table[name]) for name in _FLOAT_FIELDS]
    symbol, stream, source, seq, event_ns = (table[k] for k in ("symbol", "stream", "source", "seq", "event_ns"))
    for row in range(n):
        value = raw.value(first + row)
        try:
            signal = TaSignal.model_validate_json(value)
        except ValidationError as exc:
            raise InputError(f"{raw.locator(first + row)}: not a valid {topics.TA_SIGNALS.name} signal: "
                             f"{describe(exc)}") from None
        symbol[row] = interned.setdefault(signal.symbol, signal.symbol)
        window = signal.window or ""
        stream[row] = interned.setdefault(window, window)
        source[row] = interned.setdefault(signal.source, signal.source)
        seq[row] = signal.seq
        event_ns[row] = to_ns(signal.event_ts)
        for name, column in numeric:
            number = getattr(signal, name)
            if number is not None:
                column[row] = number
    return table
