"""The program's name and signature version: what an artifact must declare to run in the decision-client."""

from __future__ import annotations

PROGRAM_NAME = "trade-decision-v1"
SIGNATURE_VERSION = "v1"

#: The signature's fields in order (dspy stores one ``{prefix, description}`` per field in the state).
INPUT_FIELDS = ("request_json",)
OUTPUT_FIELDS = ("action", "qty", "confidence", "rationale", "risk_flags")
SIGNATURE_FIELDS = INPUT_FIELDS + OUTPUT_FIELDS

INSTRUCTIONS = (
    "Propose one advisory intent for a strategy trigger in an intraday US-equities trading system.\n\n"
    "A deterministic risk firewall has the final say: never exceed the risk policy, prefer hold when the\n"
    "evidence is weak, stale or contradictory. A hold has qty 0; a buy or sell has qty > 0 shares.")
