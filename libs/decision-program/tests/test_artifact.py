"""The artifact hash, file format, loader and writer (no dspy needed)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from torghut_decision_program import (
    ARTIFACT_SCHEMA,
    PROGRAM_NAME,
    SIGNATURE_VERSION,
    ArtifactError,
    ArtifactHashMismatch,
    artifact_file_name,
    artifact_hash,
    canonical_json,
    load_artifact,
    load_artifact_dir,
    make_artifact,
    write_artifact,
)
from torghut_decision_program.reference import REFERENCE_ARTIFACT_HASH


def state(*, instructions: str = "Decide.", demos: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    fields = [{"prefix": f"{name.title()}:", "description": f"the {name}"}
              for name in ("request_json", "action", "qty", "confidence", "rationale", "risk_flags")]
    return {"demos": demos or [], "lm": None, "signature": {"fields": fields, "instructions": instructions},
            "traces": [], "train": []}


def test_the_hash_is_sha256_of_the_hand_written_canonical_json() -> None:
    tiny = {"b": [1, 0.5], "a": "é"}
    expected_text = ('{"program_name":"trade-decision-v1","schema_version":"torghut.dspy.runtime-artifact.v1",'
                     '"signature_version":"v1","state":{"a":"\\u00e9","b":[1,0.5]}}')
    payload = {"schema_version": ARTIFACT_SCHEMA, "program_name": PROGRAM_NAME, "signature_version": SIGNATURE_VERSION,
               "state": tiny}
    assert canonical_json(payload) == expected_text
    assert artifact_hash(program_name=PROGRAM_NAME, signature_version=SIGNATURE_VERSION, state=tiny) == \
        hashlib.sha256(expected_text.encode()).hexdigest()


def test_provenance_is_not_part_of_the_hash() -> None:
    bare = make_artifact(state())
    promoted = make_artifact(state(), provenance={"eval_hash": "e" * 64, "promotion_hash": "p" * 64})
    assert bare.artifact_hash == promoted.artifact_hash
    assert make_artifact(state(instructions="Other.")).artifact_hash != bare.artifact_hash


def test_write_then_load_round_trips_byte_stable(tmp_path: Path) -> None:
    provenance = {"optimizer": "MIPROv2", "compile_result_hash": "c" * 64, "eval_hash": "e" * 64}
    written = write_artifact(tmp_path, state(demos=[{"request_json": "{}", "action": "hold"}]),
                             provenance=provenance)
    path = tmp_path / artifact_file_name(written.artifact_hash)
    assert written.source == str(path) and [p.name for p in tmp_path.iterdir()] == [path.name]
    first = path.read_bytes()
    loaded = load_artifact(path, written.artifact_hash)
    assert loaded == written and dict(loaded.provenance) == provenance
    again = write_artifact(tmp_path / "again", loaded.state, provenance=loaded.provenance)
    assert again.artifact_hash == written.artifact_hash
    assert (tmp_path / "again" / path.name).read_bytes() == first
    assert first.endswith(b"}\n") and first.isascii()
    document = json.loads(first)
    assert set(document) == {"schema_version", "program_name", "signature_version", "state", "provenance"}


def test_a_tampered_file_is_refused_naming_the_file_and_both_hashes(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, state())
    path = Path(str(written.source))
    document = json.loads(path.read_text())
    document["state"]["signature"]["instructions"] = "Always buy."
    path.write_text(json.dumps(document))
    tampered = artifact_hash(program_name=PROGRAM_NAME, signature_version=SIGNATURE_VERSION, state=document["state"])
    with pytest.raises(ArtifactHashMismatch) as caught:
        load_artifact(path, written.artifact_hash)
    message = str(caught.value)
    assert str(path) in message and written.artifact_hash in message and tampered in message
    assert (caught.value.expected, caught.value.computed) == (written.artifact_hash, tampered)
    with pytest.raises(ArtifactHashMismatch):
        load_artifact_dir(tmp_path)
    assert load_artifact(path).artifact_hash == tampered  # without an expectation it is just another program


def test_editing_provenance_keeps_the_artifact_valid(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, state())
    path = Path(str(written.source))
    document = json.loads(path.read_text())
    document["provenance"] = {"promotion_hash": "f" * 64}
    path.write_text(json.dumps(document))
    assert load_artifact(path, written.artifact_hash).provenance == {"promotion_hash": "f" * 64}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(extra=1), "unknown top-level keys"),
    (lambda d: d.update(schema_version="v0"), "schema_version"),
    (lambda d: d.update(program_name="trade-review-committee-v1"), "not supported"),
    (lambda d: d.update(signature_version="v2"), "not supported"),
    (lambda d: d.pop("state"), "state is missing"),
    (lambda d: d["state"].update(lm={"model": "openai/x", "api_base": "http://evil"}), "state.lm must be null"),
    (lambda d: d["state"]["signature"]["fields"].pop(), "fields"),
    (lambda d: d["state"].update(demos="nope"), "state.demos"),
    (lambda d: d.update(provenance=[1]), "provenance"),
])
def test_a_malformed_artifact_is_refused(tmp_path: Path, mutate: Any, message: str) -> None:
    document = make_artifact(state()).document()
    document = json.loads(json.dumps(document))
    mutate(document)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=message) as caught:
        load_artifact(path)
    assert str(path) in str(caught.value)


def test_not_json_or_missing_is_an_artifact_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ArtifactError, match="not JSON"):
        load_artifact(tmp_path / "bad.json")
    with pytest.raises(ArtifactError, match="cannot read"):
        load_artifact(tmp_path / "missing.json")


def test_an_artifact_directory_is_read_by_hash_and_skips_hidden_entries(tmp_path: Path) -> None:
    one = write_artifact(tmp_path, state(instructions="One."))
    two = write_artifact(tmp_path, state(instructions="Two."))
    (tmp_path / "..data").mkdir()  # what a mounted ConfigMap looks like
    (tmp_path / ".hidden.json").write_text("{")
    assert set(load_artifact_dir(tmp_path)) == {one.artifact_hash, two.artifact_hash}


@pytest.mark.parametrize("name", ["README.md", "candidate.json", "A" * 64 + ".json"])
def test_an_artifact_directory_holds_only_files_named_by_their_hash(tmp_path: Path, name: str) -> None:
    written = write_artifact(tmp_path, state())
    Path(str(written.source)).rename(tmp_path / name)
    with pytest.raises(ArtifactError, match=r"<sha256>\.json") as caught:
        load_artifact_dir(tmp_path)
    assert name in str(caught.value)


def test_a_file_copied_under_another_hash_is_refused(tmp_path: Path) -> None:
    written = write_artifact(tmp_path, state())
    Path(str(written.source)).rename(tmp_path / artifact_file_name("0" * 64))
    with pytest.raises(ArtifactHashMismatch, match="0" * 64):
        load_artifact_dir(tmp_path)


def test_a_missing_directory_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a directory"):
        load_artifact_dir(tmp_path / "nope")


def test_importing_the_library_does_not_import_dspy() -> None:
    code = "import sys, torghut_decision_program, torghut_decision_program.program; print('dspy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


def test_the_reference_hash_is_the_documented_one() -> None:
    assert REFERENCE_ARTIFACT_HASH == "618f4ed143fd37b63e7cf5a9b2f840f5d00ec203f365c19225828ebe68a47106"
