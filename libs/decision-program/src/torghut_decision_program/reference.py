"""The reference compile: hand-written worked examples standing in for an optimizer's bootstrapped demos.

This is the program the decision-client ships (``trade-decision-v1.json``, hash
:data:`REFERENCE_ARTIFACT_HASH`). A real compile (``torghut-research dspy compile``) writes a new
artifact with a new hash beside it.
"""

from __future__ import annotations

from typing import Any

REFERENCE_ARTIFACT_HASH = "618f4ed143fd37b63e7cf5a9b2f840f5d00ec203f365c19225828ebe68a47106"
REFERENCE_PROVENANCE: dict[str, Any] = {"optimizer": "hand-written-demos", "executor": "dspy_live"}

DEMOS: list[dict[str, Any]] = [
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


def reference_state() -> dict[str, Any]:
    """The shipped program's state (needs the ``dspy`` extra)."""
    from .program import demos_state

    return demos_state(DEMOS)
