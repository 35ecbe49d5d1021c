"""The compiled DSPy programs this package ships, by artifact hash (the gate's 'known artifacts').

``manifest.json`` lists each program's name, signature version, state file and hash. Loading
recomputes every hash from the state file's content: a manifest entry whose file was edited no
longer matches and the package refuses to start, so a hash always means exactly one program.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ..domain.artifact_hash import artifact_hash
from ..domain.gate import KnownArtifact

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "torghut.dspy.artifact-manifest.v1"


class ArtifactIntegrityError(RuntimeError):
    """A shipped artifact does not hash to what the manifest says."""


def _read_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@cache
def known_artifacts() -> dict[str, KnownArtifact]:
    manifest = _read_json(MANIFEST)
    if manifest.get("schema_version") != MANIFEST_SCHEMA:
        raise ArtifactIntegrityError(f"{MANIFEST}: unsupported schema_version {manifest.get('schema_version')!r}")
    known: dict[str, KnownArtifact] = {}
    for entry in manifest["artifacts"]:
        state = _read_json(entry["state_file"])
        computed = artifact_hash(program_name=entry["program_name"], signature_version=entry["signature_version"],
                                 state=state)
        if computed != entry["artifact_hash"]:
            raise ArtifactIntegrityError(
                f"{entry['state_file']} hashes to {computed}, the manifest says {entry['artifact_hash']}")
        known[computed] = KnownArtifact(artifact_hash=computed, program_name=entry["program_name"],
                                        signature_version=entry["signature_version"], state=state)
    return known
