"""The DSPy trade-decision program as a library: what the research lane compiles and the decision-client runs.

Importing this package does not import dspy: the artifact format, hash, loader and writer are
standard library only; :mod:`torghut_decision_program.program` (the signature and the module)
needs the ``dspy`` extra and imports it on first use.
"""

from __future__ import annotations

from .artifact import (
    ARTIFACT_SUFFIX,
    ArtifactError,
    ArtifactHashMismatch,
    ProgramArtifact,
    artifact_file_name,
    check_state,
    load_artifact,
    load_artifact_dir,
    make_artifact,
    parse_artifact,
    render_artifact,
    write_artifact,
)
from .constants import INSTRUCTIONS, PROGRAM_NAME, SIGNATURE_FIELDS, SIGNATURE_VERSION
from .hashing import ARTIFACT_SCHEMA, artifact_hash, canonical_json, hash_payload, hashed_payload, is_sha256_hex

__all__ = [
    "ARTIFACT_SCHEMA",
    "ARTIFACT_SUFFIX",
    "INSTRUCTIONS",
    "PROGRAM_NAME",
    "SIGNATURE_FIELDS",
    "SIGNATURE_VERSION",
    "ArtifactError",
    "ArtifactHashMismatch",
    "ProgramArtifact",
    "artifact_file_name",
    "artifact_hash",
    "canonical_json",
    "check_state",
    "hash_payload",
    "hashed_payload",
    "is_sha256_hex",
    "load_artifact",
    "load_artifact_dir",
    "make_artifact",
    "parse_artifact",
    "render_artifact",
    "write_artifact",
]
