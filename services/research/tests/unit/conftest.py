"""The Janus-Q tests' demo session (test_janus_*.py): three symbols at three timestamps, the row of a
symbol's step, a decision on it, and the event/CAR and HGRM reward artifacts built for decisions."""

from __future__ import annotations

import json
from typing import Any

from torghut_research.config import Costs, Portfolio
from torghut_research.janus import events, hgrm
from torghut_research.janus.settings import HgrmConfig, JanusSettings
from torghut_research.signals import Inbound, SignalSet, build_signal_set

T = ("2026-02-12T15:00:00Z", "2026-02-12T15:01:00Z", "2026-02-12T15:02:00Z")


PRICES = {"AAA": (100.0, 102.0, 100.98), "BBB": (50.0, 50.5, 51.005), "CCC": (20.0, 19.8, 20.196)}


def demo_signals() -> SignalSet:
    """Three symbols at three timestamps, interleaved by time as a topic delivers them.

    AAA and BBB carry MACD/RSI (technical events); CCC carries none (unknown events). AAA's quotes
    are 10 bps wide at t1 and t2, for the cost model.
    """
    records = []
    for i, ts in enumerate(T):
        for symbol, prices in PRICES.items():
            body: dict[str, Any] = {"symbol": symbol, "event_ts": ts, "seq": i + 1, "window": "PT1M",
                                    "price": str(prices[i])}
            if symbol != "CCC":
                body |= {"macd": "0.1", "macd_signal": "0.05", "rsi14": "50"}
            if symbol == "AAA":
                half = prices[i] * 0.0005
                body |= {"bid": f"{prices[i] - half:.6f}", "ask": f"{prices[i] + half:.6f}"}
            records.append(Inbound("test", len(records) + 1, json.dumps(body).encode()))
    return build_signal_set("test", records)


def row_of(signals: SignalSet, symbol: str, step: int) -> int:
    return next(r for r in range(len(signals)) if signals.columns.symbol[r] == symbol
                and signals.columns.seq[r] == step + 1)


def decision(signals: SignalSet, symbol: str, step: int, action: str, trigger_type: str = "macd_cross_up", *,
             rationale: str | None = "rule fired", seq: int | None = None) -> hgrm.Decision:
    row = row_of(signals, symbol, step)
    return hgrm.Decision("fold_1", row, f"req-{symbol}-{step}-{action}", "s1", symbol, action, trigger_type,
                         int(signals.columns.event_ns[row]), seq if seq is not None else step + 1, rationale)


def reward_artifact(decisions: list[hgrm.Decision]) -> tuple[SignalSet, dict[str, Any], dict[str, Any]]:
    signals = demo_signals()
    table = events.compute_events(signals, JanusSettings())
    car = events.build_event_car_artifact(signals, table, run_id="r", generated_at=T[2],
                                          rows=[d.row for d in decisions])
    reward = hgrm.build_hgrm_artifact(decisions, table, signals, HgrmConfig(), costs=Costs(), portfolio=Portfolio(),
                                      event_car=car, run_id="r", candidate_id="cand-r", generated_at=T[2],
                                      parent=events.ARTIFACT, parent_sha256="0" * 64)
    return signals, car, reward
