"""The data set document: its schema and fields, its hash, and writing and loading the file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import InputError, read_json_object
from ..hashing import canonical_json

DATASET_SCHEMA = "torghut.dspy.dataset.v1"
DATASET_FILE = "dspy-dataset.json"
LABEL_RULE = "forward-return-net-of-costs-v1"
PROGRAM_NAME = "trade-decision-v1"  # torghut_decision_program.constants (kept here: the builder needs no dspy)
INPUT_FIELDS = ("request_json",)
OUTPUT_FIELDS = ("action", "qty", "confidence", "rationale", "risk_flags")


def dataset_body(document: dict[str, Any]) -> dict[str, Any]:
    """What the data set hash is taken over: the document without ``createdAt``."""
    return {k: v for k, v in document.items() if k != "createdAt"}


def canonical_chunks(document: dict[str, Any]) -> Iterator[str]:
    """``canonical_json(document)`` in pieces, one example at a time: the same text without holding the
    whole document's encoding at once (a hundred thousand examples encode to millions of small strings)."""
    yield "{"
    for index, key in enumerate(sorted(document)):
        yield ("," if index else "") + json.dumps(key) + ":"
        if key == "examples":
            yield "["
            for number, example in enumerate(document[key]):
                yield ("," if number else "") + canonical_json(example)
            yield "]"
        else:
            yield canonical_json(document[key])
    yield "}"


def dataset_hash(document: dict[str, Any]) -> str:
    """``hash_payload(dataset_body(document))``, computed piecewise."""
    digest = hashlib.sha256()
    for chunk in canonical_chunks(dataset_body(document)):
        digest.update(chunk.encode("ascii"))
    return digest.hexdigest()


def write_dataset(output_dir: Path, document: dict[str, Any]) -> tuple[Path, str]:
    """Write ``dspy-dataset.json`` (canonical JSON) atomically; returns its path and the data set hash."""
    from ...artifacts import RunDirectory

    with RunDirectory(output_dir) as out:
        out.write_bytes(DATASET_FILE, "".join(canonical_chunks(document)).encode("ascii") + b"\n")
        out.commit()
    return output_dir / DATASET_FILE, dataset_hash(document)


def load_dataset(path: Path) -> dict[str, Any]:
    """A data set file, checked for the fields compile needs; :class:`InputError` names the example and field."""
    document = read_json_object(path, "data set")
    if document.get("schemaVersion") != DATASET_SCHEMA:
        raise InputError(f"{path}: not a DSPy data set (schemaVersion must be {DATASET_SCHEMA})")
    examples = document.get("examples")
    if not isinstance(examples, list):
        raise InputError(f"{path}: examples: expected a list")
    for index, example in enumerate(examples):
        where = f"{path}: examples[{index}]"
        if not isinstance(example, dict) or not isinstance(example.get("id"), str):
            raise InputError(f"{where}.id: expected a string")
        where = f"{path}: example {example['id']}"
        if example.get("split") not in ("train", "eval"):
            raise InputError(f"{where}: split: expected train or eval")
        if not isinstance((example.get("inputs") or {}).get("request_json"), str):
            raise InputError(f"{where}: inputs.request_json: expected a string")
        label = example.get("label")
        if not isinstance(label, dict) or label.get("action") not in ("buy", "sell", "hold"):
            raise InputError(f"{where}: label.action: expected buy, sell or hold")
        for name in OUTPUT_FIELDS:
            if name not in label:
                raise InputError(f"{where}: label.{name}: missing")
    return document
