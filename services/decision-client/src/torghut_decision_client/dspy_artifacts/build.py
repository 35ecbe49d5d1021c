"""Regenerate the shipped compiled program and its manifest entry.

``uv run python -m torghut_decision_client.dspy_artifacts.build`` writes ``trade-decision-v1.json``
(the program's dspy state: instructions, field prefixes, demos) and ``manifest.json``. The demos
are hand-written worked examples standing in for an optimizer's bootstrapped ones; a real compile
(an optimizer over a labelled data set) writes a new state file and a new hash beside this one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..adapters.dspy_program import TradeDecisionSignature
from ..domain.artifact_hash import artifact_hash
from . import MANIFEST, MANIFEST_SCHEMA

PROGRAM_NAME = "trade-decision-v1"
SIGNATURE_VERSION = "v1"
STATE_FILE = "trade-decision-v1.json"

DEMOS = [
    {
        "request_json": '{"symbol":"NVDA","strategy_id":"macd-rsi-v1","trigger":{"type":"macd_cross_up",'
                        '"direction":"buy","price":"160.25","features":{"macd":"1.2","macd_signal":"0.8",'
                        '"rsi14":"61.4","spread_bps":"5.1"}},"portfolio":{"equity":"100000","buying_power":"250000",'
                        '"current_exposure":"42000","position":null},"risk_policy":{"max_notional_per_trade":"7000",'
                        '"max_position_pct_equity":"0.08","kill_switch_enabled":false}}',
        "action": "buy", "qty": 40.0, "confidence": 0.66,
        "rationale": "MACD crossed above its signal with RSI mid-range and a tight spread; 40 shares keeps the "
                     "notional under the 7000 per-trade cap.",
        "risk_flags": [],
    },
    {
        "request_json": '{"symbol":"AAPL","strategy_id":"macd-rsi-v1","trigger":{"type":"macd_cross_up",'
                        '"direction":"buy","price":"190.10","features":{"macd":"0.3","macd_signal":"0.28",'
                        '"rsi14":"78.2","spread_bps":"41.0"}},"portfolio":{"equity":"100000",'
                        '"buying_power":"250000","current_exposure":"7900","position":{"symbol":"AAPL","qty":"40",'
                        '"market_value":"7604"}},"risk_policy":{"max_notional_per_trade":"7000",'
                        '"max_position_pct_equity":"0.08","kill_switch_enabled":false}}',
        "action": "hold", "qty": 0.0, "confidence": 0.8,
        "rationale": "RSI is overbought, the cross is marginal and the spread is wide; the position is already "
                     "near the 8% equity cap.",
        "risk_flags": ["rsi_overbought", "wide_spread", "position_near_cap"],
    },
]


def build_state() -> dict[str, object]:
    import dspy

    module = dspy.Predict(TradeDecisionSignature)
    module.demos = [dspy.Example(**demo).with_inputs("request_json") for demo in DEMOS]
    state: dict[str, object] = module.dump_state()
    state["lm"] = None
    return state


def main() -> None:
    here = Path(__file__).parent
    state = build_state()
    (here / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    digest = artifact_hash(program_name=PROGRAM_NAME, signature_version=SIGNATURE_VERSION, state=state)
    manifest = {"schema_version": MANIFEST_SCHEMA, "artifacts": [{
        "program_name": PROGRAM_NAME, "signature_version": SIGNATURE_VERSION, "state_file": STATE_FILE,
        "artifact_hash": digest, "optimizer": "hand-written-demos", "executor": "dspy_live",
    }]}
    (here / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(digest)


if __name__ == "__main__":
    main()
