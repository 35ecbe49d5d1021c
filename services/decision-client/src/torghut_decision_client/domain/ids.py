"""Deterministic ids: the same trigger for the same account always yields the same decision id."""

from __future__ import annotations

import hashlib


def decision_id(account: str, request_id: str) -> str:
    """``dec-`` + 32 hex of sha256(account, request id), so a replay can never mint a second decision."""
    digest = hashlib.sha256(f"{account}|{request_id}".encode()).hexdigest()
    return f"dec-{digest[:32]}"
