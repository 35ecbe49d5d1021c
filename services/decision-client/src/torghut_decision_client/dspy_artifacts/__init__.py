"""The compiled DSPy programs this package ships, by artifact hash (the gate's 'known artifacts').

``manifest.json`` lists each shipped artifact file and its hash. Each file is a runtime artifact
(``torghut_decision_program``'s format: schema version, program name, signature version, state and
unhashed provenance) and is loaded with the library's loader, which recomputes its hash: an entry
whose file was edited no longer matches and the package refuses to start, so a hash always means
exactly one program. Compiled artifacts that are not shipped come from ``LLM_DSPY_ARTIFACT_DIR``
(see :mod:`torghut_decision_client.startup`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from torghut_decision_program import ArtifactError, ProgramArtifact, parse_artifact

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "torghut.dspy.artifact-manifest.v2"


class ArtifactIntegrityError(RuntimeError):
    """A shipped artifact does not hash to what the manifest says, or is not a valid artifact."""


def _read_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@cache
def known_artifacts() -> dict[str, ProgramArtifact]:
    manifest = _read_json(MANIFEST)
    if manifest.get("schema_version") != MANIFEST_SCHEMA:
        raise ArtifactIntegrityError(f"{MANIFEST}: unsupported schema_version {manifest.get('schema_version')!r}")
    known: dict[str, ProgramArtifact] = {}
    for entry in manifest["artifacts"]:
        try:
            artifact = parse_artifact(_read_json(entry["file"]), expected_hash=entry["artifact_hash"],
                                      source=f"{__package__}/{entry['file']}")
        except ArtifactError as exc:
            raise ArtifactIntegrityError(str(exc)) from None
        known[artifact.artifact_hash] = artifact
    return known
