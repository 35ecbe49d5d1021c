"""The runtime artifact file: one compiled trade-decision program, verified by its hash.

One JSON object::

    {
      "schema_version": "torghut.dspy.runtime-artifact.v1",
      "program_name": "trade-decision-v1",
      "signature_version": "v1",
      "state": {...},            # dspy's Predict.dump_state() with "lm": null
      "provenance": {...}        # optional, free-form, NOT hashed (compile / eval / promotion hashes ...)
    }

The artifact hash is ``sha256(canonical_json({schema_version, program_name, signature_version,
state}))`` (:mod:`.hashing`). Loading always recomputes it: a file whose content does not hash to
what its name (``<hash>.json`` in an artifact directory) or its caller says is refused, so a hash
names exactly one program. Any other top-level key is refused too (it would be unhashed content).

Files are written sorted, one-space indented, ASCII, with a final newline: writing what was loaded
gives the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .constants import PROGRAM_NAME, SIGNATURE_FIELDS, SIGNATURE_VERSION
from .hashing import ARTIFACT_SCHEMA, artifact_hash, is_sha256_hex

ARTIFACT_SUFFIX = ".json"
_KEYS = frozenset({"schema_version", "program_name", "signature_version", "state", "provenance"})


class ArtifactError(ValueError):
    """An artifact file that must not run: unreadable, malformed, for another program, or tampered."""

    def __init__(self, source: str | os.PathLike[str] | None, message: str) -> None:
        self.source = str(source) if source is not None else None
        super().__init__(f"{self.source}: {message}" if self.source else message)


class ArtifactHashMismatch(ArtifactError):
    """The file's content does not hash to the hash it is known by."""

    def __init__(self, source: str | os.PathLike[str] | None, *, expected: str, computed: str) -> None:
        self.expected = expected
        self.computed = computed
        super().__init__(source, f"the artifact hashes to {computed}, expected {expected} "
                                 "(the file was edited or is not the artifact it is named for)")


@dataclass(frozen=True)
class ProgramArtifact:
    """A verified compiled program: what the runtime runs (hashed) and where it came from (not hashed)."""

    artifact_hash: str
    program_name: str
    signature_version: str
    state: Mapping[str, Any]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)
    """The file it was read from or written to (messages only)."""

    def document(self) -> dict[str, Any]:
        """The file's JSON object (``provenance`` only when there is some)."""
        doc: dict[str, Any] = {"schema_version": ARTIFACT_SCHEMA, "program_name": self.program_name,
                               "signature_version": self.signature_version, "state": self.state}
        if self.provenance:
            doc["provenance"] = self.provenance
        return doc


def artifact_file_name(digest: str) -> str:
    """The name of an artifact in an artifact directory: ``<sha256>.json``."""
    return digest + ARTIFACT_SUFFIX


def render_artifact(artifact: ProgramArtifact) -> str:
    """The file's text: sorted keys, one-space indent, ASCII, final newline (stable bytes)."""
    return json.dumps(artifact.document(), indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"


def check_state(state: Any, *, source: str | os.PathLike[str] | None = None) -> None:
    """``state`` is a trade-decision ``dspy.Predict`` state without an LM, or :class:`ArtifactError`."""
    if not isinstance(state, Mapping):
        raise ArtifactError(source, f"state must be a JSON object, got {type(state).__name__}")
    if state.get("lm") is not None:
        raise ArtifactError(source, "state.lm must be null: an artifact never carries an LM (the runtime sets it)")
    signature = state.get("signature")
    if not isinstance(signature, Mapping):
        raise ArtifactError(source, "state.signature must be a JSON object")
    if not isinstance(signature.get("instructions"), str) or not signature["instructions"].strip():
        raise ArtifactError(source, "state.signature.instructions must be a non-empty string")
    fields = signature.get("fields")
    if not isinstance(fields, list) or len(fields) != len(SIGNATURE_FIELDS):
        raise ArtifactError(source, f"state.signature.fields must list the {len(SIGNATURE_FIELDS)} fields "
                                    f"{', '.join(SIGNATURE_FIELDS)}")
    for index, item in enumerate(fields):
        if not (isinstance(item, Mapping) and isinstance(item.get("prefix"), str)
                and isinstance(item.get("description"), str)):
            raise ArtifactError(source, f"state.signature.fields[{index}] ({SIGNATURE_FIELDS[index]}) must have "
                                        "string prefix and description")
    demos = state.get("demos", [])
    if not isinstance(demos, list) or not all(isinstance(demo, Mapping) for demo in demos):
        raise ArtifactError(source, "state.demos must be a list of JSON objects")


def make_artifact(state: Mapping[str, Any], *, provenance: Mapping[str, Any] | None = None,
                  program_name: str = PROGRAM_NAME, signature_version: str = SIGNATURE_VERSION,
                  source: str | os.PathLike[str] | None = None) -> ProgramArtifact:
    """A checked artifact with its hash computed (nothing written)."""
    if program_name != PROGRAM_NAME or signature_version != SIGNATURE_VERSION:
        raise ArtifactError(source, f"program {program_name!r} signature {signature_version!r} is not supported "
                                    f"(this runtime runs {PROGRAM_NAME!r} signature {SIGNATURE_VERSION!r})")
    check_state(state, source=source)
    if provenance is not None and not isinstance(provenance, Mapping):
        raise ArtifactError(source, "provenance must be a JSON object")
    try:
        digest = artifact_hash(program_name=program_name, signature_version=signature_version, state=state)
        json.dumps(provenance or {}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(source, f"not JSON-serialisable: {exc}") from None
    return ProgramArtifact(artifact_hash=digest, program_name=program_name, signature_version=signature_version,
                           state=state, provenance=dict(provenance or {}),
                           source=str(source) if source is not None else None)


def parse_artifact(document: Any, *, expected_hash: str | None = None,
                   source: str | os.PathLike[str] | None = None) -> ProgramArtifact:
    """An artifact from a decoded file (see the module doc), its hash recomputed and compared."""
    if not isinstance(document, Mapping):
        raise ArtifactError(source, "an artifact file holds one JSON object")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise ArtifactError(source, f"unknown top-level keys {unknown} (allowed: {sorted(_KEYS)})")
    if document.get("schema_version") != ARTIFACT_SCHEMA:
        raise ArtifactError(source, f"schema_version {document.get('schema_version')!r} is not {ARTIFACT_SCHEMA!r}")
    for key in ("program_name", "signature_version"):
        if not isinstance(document.get(key), str):
            raise ArtifactError(source, f"{key} must be a string")
    if "state" not in document:
        raise ArtifactError(source, "state is missing")
    artifact = make_artifact(document["state"], provenance=document.get("provenance"),
                             program_name=document["program_name"], signature_version=document["signature_version"],
                             source=source)
    if expected_hash is not None and artifact.artifact_hash != expected_hash:
        raise ArtifactHashMismatch(source, expected=expected_hash, computed=artifact.artifact_hash)
    return artifact


def load_artifact(path: str | os.PathLike[str], expected_hash: str | None = None) -> ProgramArtifact:
    """Read and verify one artifact file; ``expected_hash`` (if given) must be what it hashes to.

    Raises :class:`ArtifactHashMismatch` (naming the file, the expected and the computed hash) or
    :class:`ArtifactError` for anything else wrong with the file.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"cannot read the artifact: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"not JSON: {exc}") from None
    return parse_artifact(document, expected_hash=expected_hash, source=path)


def load_artifact_dir(directory: str | os.PathLike[str]) -> dict[str, ProgramArtifact]:
    """Every artifact of an artifact directory, by hash; each file must be ``<its sha256>.json``.

    Hidden entries are skipped (a mounted ConfigMap's ``..data`` links); any other entry whose name
    is not a sha256 plus ``.json``, or whose content does not hash to its name, is an
    :class:`ArtifactError` naming it: a directory either verifies completely or not at all.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(root, "not a directory")
    found: dict[str, ProgramArtifact] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        digest = entry.name.removesuffix(ARTIFACT_SUFFIX)
        if not entry.name.endswith(ARTIFACT_SUFFIX) or not is_sha256_hex(digest):
            raise ArtifactError(entry, "an artifact directory holds only files named <sha256>.json "
                                       "(the artifact hash, 64 lowercase hex characters)")
        if not entry.is_file():
            raise ArtifactError(entry, "not a file")
        found[digest] = load_artifact(entry, digest)
    return found


def write_artifact(directory: str | os.PathLike[str], state: Mapping[str, Any], *,
                   provenance: Mapping[str, Any] | None = None, file_name: str | None = None) -> ProgramArtifact:
    """Write ``state`` as an artifact file in ``directory`` (created if missing) and return it.

    The file is ``<artifact hash>.json`` unless ``file_name`` says otherwise (only the shipped
    artifacts, listed in a manifest, are named differently). It is written to a temporary file
    and renamed, so a reader never sees half a file; then read back and verified.
    """
    root = Path(directory)
    artifact = make_artifact(state, provenance=provenance)
    path = root / (file_name or artifact_file_name(artifact.artifact_hash))
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=ARTIFACT_SUFFIX, dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(render_artifact(artifact))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return load_artifact(path, artifact.artifact_hash)
