"""Identifiers derived from what they identify, so a replay yields the very same ids.

``client_order_id`` is the broker's idempotency key: Alpaca refuses a second order with the same
id, so deriving it from (account, decision_id) makes a replayed decision unable to place a second
order even if everything else failed. ``th-`` + 32 hex characters = 35, inside Alpaca's 48.
"""

from __future__ import annotations

import hashlib

CLIENT_ORDER_ID_PREFIX = "th-"


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def client_order_id(account: str, decision_id: str) -> str:
    return CLIENT_ORDER_ID_PREFIX + _digest(account, decision_id)[:32]


def verdict_id(account: str, decision_id: str) -> str:
    return "ver-" + _digest("verdict", account, decision_id)[:32]


def flatten_decision_id(account: str, trading_day: str, symbol: str) -> str:
    """The decision id of a closing order the firewall itself emits at the flatten time."""
    return f"flatten-{trading_day}-{symbol}-" + _digest("flatten", account, trading_day, symbol)[:12]
