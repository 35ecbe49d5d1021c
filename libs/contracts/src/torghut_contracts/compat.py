"""Schema evolution check: may the current model replace the released snapshot of its topic?

A released version only gains optional fields. This compares a topic's committed JSON Schema
snapshot (what consumers in the field were built against) with the schema of the model in the tree
and names every change that would break them: a removed or renamed field, a changed type, a new
required field, an enum that lost (or, since enums are closed, gained) values, a changed constraint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .topics import ALL_TOPICS, TopicSpec

Schema = dict[str, Any]
_CONSTRAINTS = ("pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "minLength", "maxLength", "const", "format")


@dataclass(frozen=True)
class Breaking:
    topic: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.path or '<root>'}: {self.problem}"


def schema_of(spec: TopicSpec[Any]) -> Schema:
    """The validation-mode schema: what a consumer accepts, with required meaning 'must be sent'."""
    return spec.model.model_json_schema(mode="validation")


def snapshot_path(directory: Path, topic: str) -> Path:
    return directory / f"{topic}.json"


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {})[name]
        seen += 1
        if seen > 50:
            raise ValueError("cyclic $ref")
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            out: list[Schema] = []
            for branch in schema[key]:
                out.extend(_branches(branch, root))
            return out
    return [schema]


def _types(schema: Schema, root: Schema) -> set[str]:
    types: set[str] = set()
    for branch in _branches(schema, root):
        kind = branch.get("type")
        if isinstance(kind, list):
            types.update(kind)
        elif kind is not None:
            types.add(kind)
        elif "properties" in branch:
            types.add("object")
        elif "enum" in branch or "const" in branch:
            types.add("enum")
        else:
            types.add("any")
    return types


def _enum_values(schema: Schema, root: Schema) -> set[Any] | None:
    values: set[Any] = set()
    found = False
    for branch in _branches(schema, root):
        if "enum" in branch:
            values.update(json.dumps(v, sort_keys=True) for v in branch["enum"])
            found = True
        elif "const" in branch:
            values.add(json.dumps(branch["const"], sort_keys=True))
            found = True
    return values if found else None


def _single_branch(schema: Schema, root: Schema, kind: str) -> Schema | None:
    matches = [b for b in _branches(schema, root) if b.get("type") == kind or (kind == "object" and "properties" in b)]
    return matches[0] if len(matches) == 1 else None


def compare(topic: str, old: Schema, new: Schema) -> list[Breaking]:
    """Every breaking difference between a released schema and its replacement."""
    problems: list[Breaking] = []
    _compare(topic, "", old, old, new, new, problems)
    return problems


def _compare(topic: str, path: str, old: Schema, old_root: Schema, new: Schema, new_root: Schema,
             problems: list[Breaking]) -> None:
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if old_types != new_types and "any" not in new_types:
        problems.append(Breaking(topic, path, f"changed type: {sorted(old_types)} -> {sorted(new_types)}"))
        return

    old_enum, new_enum = _enum_values(old, old_root), _enum_values(new, new_root)
    if old_enum is not None and new_enum is not None:
        lost = sorted(old_enum - new_enum)
        gained = sorted(new_enum - old_enum)
        if lost:
            problems.append(Breaking(topic, path, f"narrowed enum: removed {', '.join(lost)}"))
        if gained:
            problems.append(Breaking(
                topic, path, f"widened enum: added {', '.join(gained)} (enums are closed; older consumers reject it)"))

    for kind in ("string", "number", "integer"):
        old_branch, new_branch = _single_branch(old, old_root, kind), _single_branch(new, new_root, kind)
        if old_branch is not None and new_branch is not None:
            for key in _CONSTRAINTS:
                if old_branch.get(key) != new_branch.get(key):
                    problems.append(Breaking(
                        topic, path, f"changed constraint {key}: {old_branch.get(key)!r} -> {new_branch.get(key)!r}"))

    old_obj, new_obj = _single_branch(old, old_root, "object"), _single_branch(new, new_root, "object")
    if old_obj is not None and new_obj is not None:
        old_props: Schema = old_obj.get("properties", {})
        new_props: Schema = new_obj.get("properties", {})
        added = [name for name in new_props if name not in old_props]
        for name in old_props:
            if name not in new_props:
                hint = f" (renamed to {' or '.join(added)}?)" if added else ""
                problems.append(Breaking(topic, _join(path, name), f"removed field{hint}"))
        for name in sorted(set(new_obj.get("required", [])) - set(old_obj.get("required", []))):
            problems.append(Breaking(topic, _join(path, name), "new required field"))
        for name in old_props:
            if name in new_props:
                _compare(topic, _join(path, name), old_props[name], old_root, new_props[name], new_root, problems)
        old_extra, new_extra = old_obj.get("additionalProperties"), new_obj.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            _compare(topic, _join(path, "*"), old_extra, old_root, new_extra, new_root, problems)

    old_arr, new_arr = _single_branch(old, old_root, "array"), _single_branch(new, new_root, "array")
    if old_arr is not None and new_arr is not None and "items" in old_arr and "items" in new_arr:
        _compare(topic, _join(path, "[]"), old_arr["items"], old_root, new_arr["items"], new_root, problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@dataclass(frozen=True)
class CheckReport:
    breaking: list[Breaking]
    stale: list[str]
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not (self.breaking or self.stale or self.missing)


def check(directory: Path, specs: tuple[TopicSpec[Any], ...] = ALL_TOPICS) -> CheckReport:
    """Compare every topic with its snapshot; a snapshot whose topic vanished is breaking too."""
    breaking: list[Breaking] = []
    stale: list[str] = []
    missing: list[str] = []
    names = {spec.name for spec in specs}
    for spec in specs:
        path = snapshot_path(directory, spec.name)
        current = schema_of(spec)
        if not path.exists():
            missing.append(spec.name)
            continue
        released = json.loads(path.read_text())
        found = compare(spec.name, released, current)
        breaking.extend(found)
        if not found and released != current:
            stale.append(spec.name)
    for path in sorted(directory.glob("*.json")):
        if path.stem not in names:
            breaking.append(Breaking(path.stem, "", "topic removed from the registry (keep released versions)"))
    return CheckReport(breaking, stale, missing)


def write_snapshots(directory: Path, specs: tuple[TopicSpec[Any], ...] = ALL_TOPICS, *,
                    correction: str | None = None) -> list[str]:
    """Write the snapshot of every topic whose change is compatible; refuse if any change breaks.

    ``correction`` (the reason, for the changelog) writes a breaking difference all the same. It is
    for a snapshot that described the model wrongly: the schema changes, the messages the services
    accept do not. A change of what they accept still needs a new topic version.
    """
    report = check(directory, specs)
    if report.breaking and not correction:
        raise ValueError("refusing to snapshot a breaking change:\n" + "\n".join(map(str, report.breaking)))
    corrected = {problem.topic for problem in report.breaking}
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        if spec.name in report.stale or spec.name in report.missing or spec.name in corrected:
            snapshot_path(directory, spec.name).write_text(json.dumps(schema_of(spec), indent=2, sort_keys=True) + "\n")
            written.append(spec.name)
    return written
