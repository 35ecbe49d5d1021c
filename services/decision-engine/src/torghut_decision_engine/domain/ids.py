"""Deterministic identifiers and content hashes (sha256 of canonical JSON), so a replay gets the same ids."""

from __future__ import annotations

import hashlib
import json


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def sha256_hex(value: object) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def run_id_for(request_id: str) -> str:
    """One run per request id, whichever replica sees the request first."""
    return "run-" + hashlib.sha256(f"torghut-decision-engine|{request_id}".encode()).hexdigest()[:32]
