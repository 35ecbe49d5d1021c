"""The DSPy program: the reference compile reproduces the shipped hash; a written state rebuilds the same module."""

from __future__ import annotations

from pathlib import Path

from torghut_decision_program import PROGRAM_NAME, SIGNATURE_FIELDS, SIGNATURE_VERSION, artifact_hash, write_artifact
from torghut_decision_program.program import build_module, demos_state, module_state, new_module
from torghut_decision_program.reference import DEMOS, REFERENCE_ARTIFACT_HASH, reference_state


def test_the_reference_compile_has_the_shipped_hash() -> None:
    state = reference_state()
    assert artifact_hash(program_name=PROGRAM_NAME, signature_version=SIGNATURE_VERSION, state=state) == \
        REFERENCE_ARTIFACT_HASH


def test_the_signature_has_the_documented_fields() -> None:
    module = new_module()
    assert tuple(module.signature.fields) == SIGNATURE_FIELDS
    assert module.lm is None and module.demos == []


def test_a_compiled_state_survives_write_load_and_build(tmp_path: Path) -> None:
    compiled = demos_state(DEMOS[:1], instructions="Be brief. Prefer hold.")
    written = write_artifact(tmp_path, compiled, provenance={"optimizer": "test"})
    module = build_module(written.state)
    assert module.signature.instructions == "Be brief. Prefer hold."
    assert len(module.demos) == 1 and module.demos[0]["action"] == "buy"
    assert module.lm is None
    assert module_state(module) == compiled
