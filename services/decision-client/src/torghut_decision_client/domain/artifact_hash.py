"""The identity of a compiled DSPy program: sha256 of its canonical JSON.

Canonical = sorted keys, ``,``/``:`` separators, ASCII (as upstream's ``hash_payload``), so the same
program content always has the same hash whichever tool wrote the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

ARTIFACT_SCHEMA = "torghut.dspy.runtime-artifact.v1"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def artifact_hash(*, program_name: str, signature_version: str, state: Mapping[str, Any]) -> str:
    payload = {"schema_version": ARTIFACT_SCHEMA, "program_name": program_name,
               "signature_version": signature_version, "state": state}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
