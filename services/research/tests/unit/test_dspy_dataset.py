"""The DSPy data set builder: labels by the documented rule, deterministic split and hash, loud errors."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from torghut_research.dspy.dataset import (
    DatasetConfig,
    build_dataset,
    dataset_body,
    dataset_hash,
    split_of,
    write_dataset,
)
from torghut_research.dspy.hashing import canonical_bytes, hash_payload
from torghut_research.dspy.synthetic import write_synthetic_dump
from torghut_research.errors import InputError

CREATED = datetime(2026, 2, 12, 22, 0, tzinfo=UTC)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return write_synthetic_dump(tmp_path / "dump", decisions=120, seed=3)


def lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_decision_is_an_example_labelled_by_the_rule(dump: Path) -> None:
    document = build_dataset(dump, created_at=CREATED, config=DatasetConfig(horizon_bars=3, eval_fraction=0.25))
    assert document["counts"]["examples"] == 120 and document["excluded"] == []
    signals = [r["value"] for r in lines(dump / "torghut.ta.signals.v1.jsonl")]
    by_seq = {(s["symbol"], s["seq"]): s for s in signals}
    for example in document["examples"]:
        request = json.loads(example["inputs"]["request_json"])
        trigger = request["trigger"]
        bar = next(s for s in signals if s["symbol"] == request["symbol"] and s["event_ts"] == trigger["event_ts"])
        later = by_seq[(request["symbol"], bar["seq"] + 3)]
        move = (float(later["price"]) - float(trigger["price"])) / float(trigger["price"]) * 10_000
        cost = float(trigger["features"]["spread_bps"]) + 2 * 1.0
        right = "buy" if move > cost else "sell" if move < -cost else "hold"
        label = example["label"]
        assert label["rightAction"] == right and label["moveBps"] == round(move, 4)
        vetoed = label["firewallVetoed"]
        assert vetoed is (None if example["recorded"]["decisionAction"] == "hold"
                          else example["recorded"]["verdict"]["outcome"] == "veto")
        assert label["action"] == ("hold" if vetoed else right)
        assert (label["qty"] == 0) is (label["action"] == "hold")
        assert example["split"] == split_of(example["id"], 0.25)
        assert request["risk_policy"]["max_notional_per_trade"] == "7000"
    assert {e["split"] for e in document["examples"]} == {"train", "eval"}


def test_each_label_carries_its_bars_janus_event_computed_by_hand(dump: Path) -> None:
    """CAR over the horizon = the sum of one-bar returns less the cross-sectional mean at each bar's time."""
    horizon = 3
    document = build_dataset(dump, created_at=CREATED, config=DatasetConfig(horizon_bars=horizon))
    signals = sorted((r["value"] for r in lines(dump / "torghut.ta.signals.v1.jsonl")),
                     key=lambda s: (s["symbol"], s["event_ts"], s["seq"]))
    series: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for signal in signals:
        series.setdefault(signal["symbol"], []).append(signal)
    returns: dict[tuple[str, int], float] = {}
    for symbol, bars in series.items():
        for bar, following in itertools.pairwise(bars):
            returns[(symbol, bar["seq"])] = float(following["price"]) / float(bar["price"]) - 1
    at_time: dict[str, list[float]] = {}
    for signal in signals:
        if (signal["symbol"], signal["seq"]) in returns:
            at_time.setdefault(signal["event_ts"], []).append(returns[(signal["symbol"], signal["seq"])])
    checked = 0
    for example in document["examples"]:
        request = json.loads(example["inputs"]["request_json"])
        bars = series[request["symbol"]]
        start = next(i for i, b in enumerate(bars) if b["event_ts"] == request["trigger"]["event_ts"])
        car = sum(returns[(b["symbol"], b["seq"])] - sum(at_time[b["event_ts"]]) / len(at_time[b["event_ts"]])
                  for b in bars[start:start + horizon] if (b["symbol"], b["seq"]) in returns)
        event = example["label"]["janusEvent"]
        assert event["car"] == pytest.approx(car, abs=1e-8)
        assert event["direction"] == ("long" if car > 0 else "short" if car < 0 else "neutral")
        assert event["strong"] is (abs(car) >= 0.0025) and event["eventType"] == "technical_indicator"
        checked += 1
    assert checked == 120


def test_the_same_dump_gives_the_same_bytes_and_hash(dump: Path, tmp_path: Path) -> None:
    a, hash_a = write_dataset(tmp_path / "a", build_dataset(dump, created_at=CREATED))
    b, hash_b = write_dataset(tmp_path / "b", build_dataset(dump, created_at=CREATED))
    assert a.read_bytes() == b.read_bytes() and hash_a == hash_b
    later = build_dataset(dump, created_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert dataset_hash(later) == hash_a  # createdAt is not part of what the hash names
    # The piecewise encoding is canonical JSON, and the hash is hash_payload's.
    assert a.read_bytes() == canonical_bytes(json.loads(a.read_bytes()))
    assert hash_a == hash_payload(dataset_body(json.loads(a.read_bytes())))


def test_a_horizon_past_the_data_is_listed_not_dropped(dump: Path) -> None:
    document = build_dataset(dump, created_at=CREATED, config=DatasetConfig(horizon_bars=20))
    assert document["counts"]["excluded"] > 0
    assert document["counts"]["examples"] + document["counts"]["excluded"] == 120
    assert all(e["reason"] == "horizon_beyond_data" and e["record"].startswith("torghut.decisions.v1:0:")
               for e in document["excluded"])


def test_a_malformed_record_names_topic_partition_offset_and_field(dump: Path) -> None:
    path = dump / "torghut.risk.verdicts.v1.jsonl"
    records = lines(path)
    records[4]["value"]["outcome"] = "maybe"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=r"torghut.risk.verdicts.v1.jsonl:5 \(torghut.risk.verdicts.v1:0:4\): "
                                         r"invalid risk verdict: outcome"):
        build_dataset(dump, created_at=CREATED)


def test_a_decision_without_its_trigger_is_an_error(dump: Path) -> None:
    path = dump / "torghut.triggers.v1.jsonl"
    records = lines(path)
    missing = records.pop(7)["value"]["request_id"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=f"request_id {missing}: no torghut.triggers.v1 record"):
        build_dataset(dump, created_at=CREATED)
