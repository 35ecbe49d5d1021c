"""The identity of a compiled program: sha256 of its canonical JSON.

Canonical = sorted keys, ``,``/``:`` separators, ASCII (as upstream's ``hash_payload``), so the same
program content always has the same hash whichever tool wrote the file. Only what the runtime
runs is hashed: ``{schema_version, program_name, signature_version, state}``. Provenance (compile,
eval and promotion hashes, optimizer, dates) is carried beside it in the file and never changes
the hash, so promoting an artifact does not rename it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

ARTIFACT_SCHEMA = "torghut.dspy.runtime-artifact.v1"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def hash_payload(value: Any) -> str:
    """Lowercase hex sha256 of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()


def hashed_payload(*, program_name: str, signature_version: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly what :func:`artifact_hash` hashes."""
    return {"schema_version": ARTIFACT_SCHEMA, "program_name": program_name,
            "signature_version": signature_version, "state": state}


def artifact_hash(*, program_name: str, signature_version: str, state: Mapping[str, Any]) -> str:
    return hash_payload(hashed_payload(program_name=program_name, signature_version=signature_version, state=state))


def is_sha256_hex(value: str) -> bool:
    return bool(SHA256_HEX.fullmatch(value))
