"""Event/CAR (research-lane.md §5.1): every signal is an event with a cumulative abnormal return.

Model, per event at row *i* of a (symbol, stream) series sorted by (event time, seq):

* one-bar return ``r_i = p_next / p_i - 1`` where ``p_next`` is the next signal's price of the same
  (symbol, stream); missing when either price is missing or not positive, and for the series' last
  signal (upstream counted that one as a 0 return, which also pulled the market mean towards 0);
* market return ``m_i``: the mean of the one-bar returns of every signal at the same event time,
  its own included (``cross_sectional_market_mean``: a one-factor model with beta 1, since the
  signal contract carries no factor loadings), or 0 (``identity``);
* abnormal return ``ar_i = r_i - m_i``;
* over a window of ``k = event_window_bars`` bars: ``raw = sum r``, ``market = sum m`` and
  ``car = sum ar = raw - market`` over bars ``i .. i+k-1`` of the series (the event-study
  convention: abnormal returns are summed, not compounded). ``k = 1`` is upstream's one-step
  window. A window cut short by the end of the series sums what it has, and says so
  (``window_bars_observed``).

Direction is the sign of the CAR (``long``, ``short``, exactly 0 ``neutral``); an event is
``strong`` when ``|car| >= strong_threshold``. The signal contract has no event-type field, so an
event is ``technical_indicator`` when it carries MACD, its signal line or RSI, and
``unknown_event`` otherwise; :func:`normalise_event_type` is upstream's label normalisation, used
for decisions' predicted types.

All of it is vectorised over the signal set's columns (O(n) passes plus one sort), so a million
signals cost a fraction of a second. The artifact lists the events the walk-forward's decisions
refer to; every event is summarised and pinned by ``event_table_hash`` in the dataset manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..canonical import hash_of
from ..signals import SignalSet
from .numbers import decimal_text, optional_text, ratio_text
from .settings import JanusSettings

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

SCHEMA = "janus-event-car-v1"
DATASET_SCHEMA = "janus-event-dataset-v1"
IMPL_VERSION = "torghut-janus-1.0.0"
ARTIFACT = "gates/janus-event-car-v1.json"
WINDOW_POLICY = "next_bars_same_symbol_stream"
CAR_QUANTUM = 1e-12
"""The event table hash covers each CAR rounded to this, so a last-bit difference cannot change it."""
TECHNICAL = "technical_indicator"
UNKNOWN = "unknown_event"
DIRECTIONS = {1: "long", -1: "short", 0: "neutral"}
RECORD_FIELDS = ("event_id", "event_ts", "symbol", "stream", "seq", "source", "event_type", "semantic_direction",
                 "strength_label", "window_bars", "window_bars_observed", "price_t", "price_window_end",
                 "raw_return", "market_return", "car", "payload_hash")
_ALIASES = {"earnings_call": "earnings", "earnings_release": "earnings", "guidance_update": "guidance",
            "macro_news": "macro"}
_SHIFTED_SUM_MAX_BARS = 16


def normalise_event_type(label: str | None) -> str | None:
    """Upstream's normalisation: lower case, ``-`` and spaces to ``_``, a few aliases; blank -> None."""
    if label is None or not label.strip():
        return None
    text = label.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(text, text)


@dataclass(frozen=True)
class EventTable:
    """Every signal's event, as columns in the signal set's row order."""

    settings: JanusSettings
    car: Floats
    raw_return: Floats
    market_return: Floats
    window_bars_observed: Ints
    end_row: Ints
    """Row of the window's last price (the event's own row when the series ends there)."""
    direction: npt.NDArray[np.int8]
    strong: npt.NDArray[np.bool_]
    technical: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.car)

    def event_type(self, row: int) -> str:
        return TECHNICAL if self.technical[row] else UNKNOWN


def compute_events(signals: SignalSet, settings: JanusSettings) -> EventTable:
    """The events of every signal (see the module's docstring for the model)."""
    columns = signals.columns
    n = len(columns)
    symbol_codes, _ = pd.factorize(columns.symbol)
    stream_codes, streams = pd.factorize(columns.stream)
    group = symbol_codes.astype(np.int64) * max(len(streams), 1) + stream_codes.astype(np.int64)
    order = np.lexsort((columns.seq, columns.event_ns, group))
    grouped = group[order]
    price = signals.price[order]
    continues = np.zeros(n, dtype=bool)
    continues[:-1] = grouped[1:] == grouped[:-1]
    next_price = np.full(n, np.nan)
    next_price[:-1] = price[1:]
    next_price[~continues] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        one_bar = np.where((price > 0) & (next_price > 0), next_price / price - 1, np.nan)
    observed = np.isfinite(one_bar)
    if settings.abnormal_return_model == "identity":
        market = np.where(observed, 0.0, np.nan)
    else:
        _, at_time = np.unique(columns.event_ns[order], return_inverse=True)
        sums = np.bincount(at_time, weights=np.where(observed, one_bar, 0.0))
        counts = np.bincount(at_time, weights=observed.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / counts, np.nan)
        market = np.where(observed, mean[at_time], np.nan)
    abnormal = one_bar - market

    positions = np.arange(n, dtype=np.int64)
    ends = np.flatnonzero(~continues)
    last_of_series = ends[np.searchsorted(ends, positions)]
    bars = settings.event_window_bars

    def window_sum(values: Floats) -> Floats:
        filled = np.where(np.isfinite(values), values, 0.0)
        if bars <= _SHIFTED_SUM_MAX_BARS:  # exact for short windows: the sum of the bars themselves
            total = np.zeros(n)
            for step in range(bars):
                at = positions + step
                total += np.where(at <= last_of_series, filled[np.minimum(at, n - 1)], 0.0)
            return total
        running = np.cumsum(filled)
        before = np.concatenate(([0.0], running[:-1]))
        return running[np.minimum(positions + bars - 1, last_of_series)] - before

    car_sorted = window_sum(abnormal)
    end_sorted = order[np.minimum(positions + bars, last_of_series)]

    def unsort(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[order] = values
        return out

    car = unsort(car_sorted)
    technical = np.isfinite(columns.macd) | np.isfinite(columns.macd_signal) | np.isfinite(columns.rsi14)
    return EventTable(
        settings=settings, car=car, raw_return=unsort(window_sum(one_bar)), market_return=unsort(window_sum(market)),
        window_bars_observed=unsort(np.rint(window_sum(observed.astype(np.float64))).astype(np.int64)),
        end_row=unsort(end_sorted.astype(np.int64)), direction=np.sign(car).astype(np.int8),
        strong=np.abs(car) >= settings.strong_threshold, technical=technical)


def iso_ns(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat().replace("+00:00", "Z")


def fast_hash(value: Any) -> str:
    """:func:`..canonical.hash_of` for a value that is already JSON builtins (strings, ints, bools, None)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


def event_id(signals: SignalSet, row: int) -> str:
    columns = signals.columns
    return fast_hash({"event_ts": iso_ns(int(columns.event_ns[row])), "symbol": str(columns.symbol[row]),
                    "stream": str(columns.stream[row]), "seq": int(columns.seq[row]),
                    "source": str(columns.source[row])})[:24]


def event_record(signals: SignalSet, table: EventTable, row: int) -> dict[str, Any]:
    columns = signals.columns
    return {
        "event_id": event_id(signals, row), "event_ts": iso_ns(int(columns.event_ns[row])),
        "symbol": str(columns.symbol[row]), "stream": str(columns.stream[row]), "seq": int(columns.seq[row]),
        "source": str(columns.source[row]), "event_type": table.event_type(row),
        "semantic_direction": DIRECTIONS[int(table.direction[row])],
        "strength_label": "strong" if table.strong[row] else "weak",
        "window_bars": table.settings.event_window_bars,
        "window_bars_observed": int(table.window_bars_observed[row]),
        "price_t": optional_text(signals.price[row]),
        "price_window_end": optional_text(signals.price[table.end_row[row]]),
        "raw_return": decimal_text(table.raw_return[row]), "market_return": decimal_text(table.market_return[row]),
        "car": decimal_text(table.car[row]),
        "payload_hash": hashlib.sha256(columns.signal_at(row).model_dump_json().encode()).hexdigest(),
    }


def summary(table: EventTable) -> dict[str, Any]:
    n = len(table)
    incomplete = int(np.count_nonzero(table.window_bars_observed < table.settings.event_window_bars))
    technical = int(np.count_nonzero(table.technical))
    return {
        "event_count": n,
        "positive_direction_count": int(np.count_nonzero(table.direction > 0)),
        "negative_direction_count": int(np.count_nonzero(table.direction < 0)),
        "neutral_direction_count": int(np.count_nonzero(table.direction == 0)),
        "strong_event_count": int(np.count_nonzero(table.strong)),
        "weak_event_count": n - int(np.count_nonzero(table.strong)),
        "unknown_event_type_count": n - technical,
        "event_type_counts": {k: v for k, v in ((TECHNICAL, technical), (UNKNOWN, n - technical)) if v},
        "incomplete_window_event_count": incomplete,
        "strong_event_ratio": ratio_text(int(np.count_nonzero(table.strong)), n),
        "mean_abs_car": decimal_text(float(np.mean(np.abs(table.car))) if n else 0.0),
        "mean_car": decimal_text(round(float(np.mean(table.car)), 15) if n else 0.0),
    }


def dataset_manifest(signals: SignalSet, table: EventTable) -> dict[str, Any]:
    """What the events were computed from and a hash over every event's values, in the dataset's row order."""
    columns = signals.columns
    digest = hashlib.sha256()
    for part in (columns.event_ns.astype("<i8"), np.rint(table.car / CAR_QUANTUM).astype("<i8"),
                 table.window_bars_observed.astype("<i8"), table.direction.astype("i1"),
                 table.strong.astype("u1"), table.technical.astype("u1")):
        digest.update(np.ascontiguousarray(part).tobytes())
    return {"schema_version": DATASET_SCHEMA, "signal_dataset_hash": signals.dataset_hash,
            "event_count": len(table), "symbol_count": len(signals.symbols),
            "first_event_ts": iso_ns(int(columns.event_ns.min())) if len(table) else None,
            "last_event_ts": iso_ns(int(columns.event_ns.max())) if len(table) else None,
            "car_quantum": decimal_text(CAR_QUANTUM), "event_table_hash": digest.hexdigest()}


def manifest_hash(body: dict[str, Any]) -> str:
    """The artifact's own hash, over what it asserts; recomputable from the file (see :mod:`.evidence`)."""
    return fast_hash({"dataset_manifest_hash": body["dataset_manifest_hash"], "summary": body["summary"],
                      "records": body["records"]})


def methodology(settings: JanusSettings) -> dict[str, Any]:
    return {"stage": "torghut_lane_v1", "event_window_policy": WINDOW_POLICY,
            "event_window_bars": settings.event_window_bars, "return_aggregation": "sum",
            "abnormal_return_model": settings.abnormal_return_model,
            "strong_threshold": decimal_text(settings.strong_threshold),
            "event_type_source": "indicators_present_else_unknown",
            "paper_alignment": {"car_reference": "janus_q_sec_3_1_eq_1_to_5", "label_reference": "janus_q_sec_3_1_2"}}


def config_json(settings: JanusSettings) -> dict[str, Any]:
    return {"event_window_bars": settings.event_window_bars,
            "strong_threshold": decimal_text(settings.strong_threshold),
            "abnormal_return_model": settings.abnormal_return_model, "event_window_policy": WINDOW_POLICY}


def build_event_car_artifact(signals: SignalSet, table: EventTable, *, run_id: str, generated_at: str,
                             rows: Iterable[int]) -> dict[str, Any]:
    """``gates/janus-event-car-v1.json``: the events ``rows`` name (the decisions'), with the whole set's summary."""
    columns = signals.columns
    unique = sorted(set(int(r) for r in rows), key=lambda r: (int(columns.event_ns[r]), str(columns.symbol[r]),
                                                              int(columns.seq[r]), r))
    records = [event_record(signals, table, row) for row in unique]
    manifest = dataset_manifest(signals, table)
    body: dict[str, Any] = {
        "schema_version": SCHEMA, "run_id": run_id, "generated_at": generated_at,
        "chain": {"parent": "dataset", "parent_sha256": signals.dataset_hash},
        "methodology": methodology(table.settings),
        "lineage": {"dataset_snapshot_hash": signals.dataset_hash,
                    "schema_hash": hash_of({"schema_version": SCHEMA, "record_fields": list(RECORD_FIELDS)}),
                    "generation_code_hash": hash_of({"impl_version": IMPL_VERSION,
                                                     "function": "torghut_research.janus.events.compute_events"}),
                    "run_config_hash": hash_of(config_json(table.settings))},
        "dataset_manifest": manifest, "dataset_manifest_hash": hash_of(manifest),
        "records_scope": "events_of_walk_forward_decisions", "record_count": len(records),
        "summary": summary(table), "records": records,
    }
    body["manifest_hash"] = manifest_hash(body)
    return body

