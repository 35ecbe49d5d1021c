"""Regenerate the shipped compiled program and the manifest.

``uv run python -m torghut_decision_program.shipped.build`` writes ``trade-decision-v1.json``
(a runtime artifact: the reference compile of ``torghut_decision_program.reference``, its
hand-written demos standing in for an optimizer's bootstrapped ones) and ``manifest.json``, and
prints the hash. The program, its state and the file format live in ``torghut_decision_program``;
a real compile (``torghut-research dspy compile``) writes ``<hash>.json`` into a directory the
services read (``LLM_DSPY_ARTIFACT_DIR``, ``DECISION_ENGINE_DSPY_ARTIFACT_DIR``) instead of changing this package.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..artifact import write_artifact
from ..reference import REFERENCE_PROVENANCE, reference_state
from . import MANIFEST, MANIFEST_SCHEMA

STATE_FILE = "trade-decision-v1.json"


def main() -> None:
    here = Path(__file__).parent
    artifact = write_artifact(here, reference_state(), provenance=REFERENCE_PROVENANCE, file_name=STATE_FILE)
    manifest = {"schema_version": MANIFEST_SCHEMA, "artifacts": [{
        "file": STATE_FILE, "program_name": artifact.program_name, "signature_version": artifact.signature_version,
        "artifact_hash": artifact.artifact_hash,
    }]}
    (here / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(artifact.artifact_hash)


if __name__ == "__main__":
    main()
