"""The compiled programs this library ships, and the known programs of a service, by artifact hash.

``manifest.json`` lists each shipped artifact file and its hash. Each file is loaded with the
library's loader, which recomputes its hash: an entry whose file was edited no longer matches and
the service refuses to start, so a hash always means exactly one program. Compiled artifacts that
are not shipped (``torghut-research dspy compile`` writes ``<hash>.json``) come from an artifact
directory the operator mounts; :func:`known_programs` joins the two. The decision-client and the
decision-engine both run the program through it, so one promoted hash means the same program in
either service.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any

from ..artifact import ArtifactError, ProgramArtifact, load_artifact_dir, parse_artifact

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "torghut.dspy.artifact-manifest.v2"


class ArtifactIntegrityError(RuntimeError):
    """A shipped artifact does not hash to what the manifest says, or is not a valid artifact."""


def _read_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@cache
def shipped_artifacts() -> dict[str, ProgramArtifact]:
    """The shipped programs by hash, each verified against the manifest."""
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


def known_programs(artifact_dir: str | os.PathLike[str] | None) -> dict[str, ProgramArtifact]:
    """The shipped programs plus every artifact of ``artifact_dir`` (when given), all verified, by hash.

    Raises :class:`ArtifactIntegrityError` for a corrupt shipped artifact and
    :class:`~torghut_decision_program.ArtifactError` for a directory that does not verify completely;
    a service turns either into a start-up error naming its setting.
    """
    known = dict(shipped_artifacts())
    if artifact_dir:
        known.update(load_artifact_dir(artifact_dir))
    return known
