"""A deterministic recorded session in ``torghut replay dump`` format, for tests and the benchmark.

``write_synthetic_dump(directory, decisions=N, seed=S)`` writes one dump file per topic (signals,
triggers, decisions, verdicts, trade updates, account snapshots) holding ``N`` decisions over a
seeded random walk: every third bar of a symbol fires a trigger (direction from the MACD side), a
third of the decisions are holds, the firewall vetoes some trades (``price_outside_collar`` for the
volatile half of the symbols, more often) and fills the rest. Same arguments, same bytes. Values
are written as the contracts' JSON, so the data set builder validates them like recorded ones.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from torghut_contracts import topics

START = datetime(2026, 2, 12, 14, 30, tzinfo=UTC)
ACCOUNT = "paper-main"
HORIZON_PAD = 12


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _hex(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class _Writer:
    def __init__(self, directory: Path, prefix: str) -> None:
        self.files: dict[str, TextIO] = {}
        self.offsets: dict[str, int] = {}
        self.directory = directory
        self.prefix = prefix

    def write(self, spec: topics.TopicSpec, key: str, value: dict[str, Any], ts_ms: int) -> None:  # type: ignore[type-arg]
        topic = self.prefix + spec.name
        if topic not in self.files:
            self.files[topic] = (self.directory / f"{spec.name}.jsonl").open("w", encoding="utf-8")
            self.offsets[topic] = 0
        record = {"topic": topic, "partition": 0, "offset": self.offsets[topic], "timestamp_ms": ts_ms, "key": key,
                  "headers": {}, "value": value}
        self.offsets[topic] += 1
        self.files[topic].write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def write_synthetic_dump(directory: Path, *, decisions: int, seed: int = 0, symbols: int = 5,
                         prefix: str = "") -> Path:
    """Write the session (module doc) into ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = [f"X{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(symbols)]
    per_symbol = -(-decisions // symbols)
    bars = per_symbol * 3 + HORIZON_PAD
    out = _Writer(directory, prefix)
    made = 0
    broker_ms = int(START.timestamp() * 1000)
    prices = {s: 100.0 + 10 * i for i, s in enumerate(names)}
    macd = dict.fromkeys(names, 0.0)
    rsi = dict.fromkeys(names, 50.0)
    try:
        equity = 100_000.0
        for bar in range(bars):
            at = START + timedelta(minutes=bar)
            for index, symbol in enumerate(names):
                volatile = index % 2 == 1
                prices[symbol] *= 1 + rng.gauss(0, 0.003 if volatile else 0.0012)
                macd[symbol] = 0.8 * macd[symbol] + rng.gauss(0, 0.05)
                rsi[symbol] = min(99.0, max(1.0, rsi[symbol] + rng.gauss(0, 6)))
                price = round(prices[symbol], 4)
                spread = round(1.5 + rng.random() * 3, 4)
                broker_ms += 7
                features = {"price": str(price), "macd": f"{macd[symbol]:.6f}", "macd_signal": "0.000000",
                            "rsi14": f"{rsi[symbol]:.4f}", "spread_bps": str(spread), "volume": "50000"}
                signal = {"symbol": symbol, "event_ts": _iso(at), "seq": bar + 1, "source": "ta", "price": str(price),
                          "macd": features["macd"], "macd_signal": "0.000000", "rsi14": features["rsi14"],
                          "bid": str(round(price * (1 - spread / 20_000), 4)),
                          "ask": str(round(price * (1 + spread / 20_000), 4)), "spread_bps": str(spread),
                          "volume": "50000", "window": "PT1M"}
                out.write(topics.TA_SIGNALS, symbol, signal, broker_ms)
                if bar % 3 != 1 or bar // 3 >= per_symbol or made >= decisions:
                    continue
                made += 1
                direction = "buy" if macd[symbol] >= 0 else "sell"
                request_id = _hex(seed, symbol, bar)
                trigger = {"request_id": request_id, "strategy_id": "macd-rsi-v1", "symbol": symbol,
                           "direction": direction,
                           "trigger_type": f"macd_cross_{'up' if direction == 'buy' else 'down'}",
                           "event_ts": _iso(at), "signal_seq": bar + 1, "price": str(price), "features": features,
                           "triggered_at": _iso(at)}
                out.write(topics.TRIGGERS, symbol, trigger, broker_ms + 1)
                if made % 50 == 1:
                    snapshot = {"snapshot_id": "snap-" + _hex(seed, "snap", made)[:32], "account": ACCOUNT,
                                "venue": "paper", "as_of": _iso(at), "equity": f"{equity:.2f}",
                                "cash": f"{equity:.2f}", "buying_power": f"{equity:.2f}", "positions": []}
                    out.write(topics.ACCOUNT_SNAPSHOTS, ACCOUNT, snapshot, broker_ms + 2)
                action = "hold" if rng.random() < 1 / 3 else direction
                qty = "0" if action == "hold" else str(max(1, int(7000 // price)))
                decision_id = "dec-" + request_id[:32]
                decision = {"decision_id": decision_id, "request_id": request_id, "account": ACCOUNT,
                            "symbol": symbol, "strategy_id": "macd-rsi-v1",
                            "intent": {"action": action, "qty": qty}, "confidence": "0.70",
                            "reference_price": str(price), "signal_event_ts": _iso(at), "decided_at": _iso(at),
                            "provenance": {"transport": "decision-engine", "mode": "deterministic"}}
                out.write(topics.DECISIONS, ACCOUNT, decision, broker_ms + 3)
                vetoed = action == "hold" or rng.random() < (0.6 if volatile else 0.1)
                reasons = ["decision_hold"] if action == "hold" else ["price_outside_collar"] if vetoed else []
                verdict = {"verdict_id": "ver-" + request_id[:32], "decision_id": decision_id,
                           "request_id": request_id, "account": ACCOUNT, "symbol": symbol,
                           "outcome": "veto" if vetoed else "approve", "reason_codes": reasons,
                           "side": None if action == "hold" else action, "requested_qty": qty,
                           "approved_qty": "0" if vetoed else qty, "trading_state": "ACTIVE",
                           "client_order_id": None if vetoed else "th-" + request_id[:32],
                           "reference_price": str(price), "decided_at": _iso(at)}
                out.write(topics.RISK_VERDICTS, ACCOUNT, verdict, broker_ms + 4)
                if not vetoed:
                    order_id = "th-" + request_id[:32]
                    fill = {"fingerprint": _hex(seed, "fill", request_id), "account": ACCOUNT, "venue": "paper",
                            "event": "fill", "timestamp": _iso(at),
                            "order": {"client_order_id": order_id, "symbol": symbol, "side": action, "qty": qty,
                                      "filled_qty": qty, "filled_avg_price": str(price), "status": "filled"},
                            "fill_qty": qty, "fill_price": str(price), "decision_id": decision_id}
                    out.write(topics.TRADE_UPDATES, ACCOUNT, fill, broker_ms + 5)
    finally:
        out.close()
    return directory
