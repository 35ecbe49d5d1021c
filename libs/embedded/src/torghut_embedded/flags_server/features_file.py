"""Flipt's declarative ``features.yaml``: the flags, segments and rollouts it declares, and reading it.

A problem is a :class:`FeaturesFileError` naming the file, the namespace and the flag or segment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BOOLEAN_FLAG_TYPE = "BOOLEAN_FLAG_TYPE"
_KEY = re.compile(r"^[-_,A-Za-z0-9]+$")
_FLAG_FIELDS = {"key", "name", "description", "type", "enabled", "rollouts", "metadata"}
_SEGMENT_FIELDS = {"key", "name", "description", "match_type", "constraints"}
_CONSTRAINT_FIELDS = {"type", "property", "operator", "value", "description"}
_MATCH_TYPES = {"ALL_MATCH_TYPE", "ANY_MATCH_TYPE"}
_SEGMENT_OPERATORS = {"OR_SEGMENT_OPERATOR", "AND_SEGMENT_OPERATOR"}
_OPERATORS = {
    "STRING_COMPARISON_TYPE": {"eq", "neq", "empty", "notempty", "prefix", "suffix", "isoneof", "isnotoneof"},
    "ENTITY_ID_COMPARISON_TYPE": {"eq", "neq", "empty", "notempty", "prefix", "suffix", "isoneof", "isnotoneof"},
    "NUMBER_COMPARISON_TYPE": {"eq", "neq", "lt", "lte", "gt", "gte", "empty", "notempty", "isoneof", "isnotoneof"},
    "BOOLEAN_COMPARISON_TYPE": {"true", "false", "present", "notpresent"},
}


class FeaturesFileError(ValueError):
    """``features.yaml`` is malformed; the message names the file, the namespace and the flag or segment."""


@dataclass(frozen=True)
class Constraint:
    type: str
    property: str
    operator: str
    value: str


@dataclass(frozen=True)
class Segment:
    key: str
    match_type: str
    constraints: tuple[Constraint, ...]


@dataclass(frozen=True)
class Rollout:
    """One rollout rule; ``percentage`` is set for a threshold rollout, ``segment_keys`` for a segment one."""

    value: bool
    percentage: float | None = None
    segment_keys: tuple[str, ...] = ()
    segment_operator: str = "OR_SEGMENT_OPERATOR"


@dataclass(frozen=True)
class FlagDef:
    key: str
    name: str
    description: str
    type: str
    enabled: bool
    rollouts: tuple[Rollout, ...] = ()


@dataclass
class Namespace:
    key: str
    flags: dict[str, FlagDef] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)


def _fail(source: str, namespace: str, what: str, problem: str) -> FeaturesFileError:
    return FeaturesFileError(f"{source}: namespace {namespace!r}: {what}: {problem}")


def _unknown_fields(raw: Mapping[str, Any], allowed: set[str]) -> list[str]:
    return sorted(str(k) for k in raw if k not in allowed)


def _parse_constraint(raw: Any, where: str, fail: Any) -> Constraint:
    if not isinstance(raw, Mapping):
        raise fail(where, "each constraint must be a mapping")
    unknown = _unknown_fields(raw, _CONSTRAINT_FIELDS)
    if unknown:
        raise fail(where, f"unknown constraint field(s) {unknown}")
    ctype = raw.get("type")
    if ctype not in _OPERATORS:
        raise fail(where, f"constraint type must be one of {sorted(_OPERATORS)}, got {ctype!r}")
    operator = str(raw.get("operator", "")).lower()
    if operator not in _OPERATORS[ctype]:
        raise fail(where, f"operator {operator!r} is not valid for {ctype} (one of {sorted(_OPERATORS[ctype])})")
    prop = raw.get("property", "")
    if ctype != "ENTITY_ID_COMPARISON_TYPE" and (not isinstance(prop, str) or not prop):
        raise fail(where, "constraint needs a property")
    value = raw.get("value", "")
    return Constraint(type=ctype, property=str(prop or ""), operator=operator,
                      value=value if isinstance(value, str) else json.dumps(value))


def _parse_segment(raw: Any, fail: Any) -> Segment:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str) or not _KEY.match(raw["key"]):
        raise fail("segment", f"each segment needs a key of letters, digits, '-', '_' (got {raw!r})")
    key = raw["key"]
    where = f"segment {key!r}"
    unknown = _unknown_fields(raw, _SEGMENT_FIELDS)
    if unknown:
        raise fail(where, f"unknown field(s) {unknown}")
    match_type = raw.get("match_type", "ALL_MATCH_TYPE")
    if match_type not in _MATCH_TYPES:
        raise fail(where, f"match_type must be one of {sorted(_MATCH_TYPES)}, got {match_type!r}")
    constraints = raw.get("constraints") or []
    if not isinstance(constraints, list):
        raise fail(where, "constraints must be a list")
    return Segment(key, match_type, tuple(_parse_constraint(c, where, fail) for c in constraints))


def _parse_rollout(raw: Any, where: str, segments: Mapping[str, Segment], fail: Any) -> Rollout:
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in ("threshold", "segment"):
        raise fail(where, f"each rollout must be exactly one of 'threshold' or 'segment', got {raw!r}")
    kind, body = next(iter(raw.items()))
    if not isinstance(body, Mapping):
        raise fail(where, f"{kind} rollout must be a mapping")
    value = body.get("value", False)
    if not isinstance(value, bool):
        raise fail(where, f"{kind} rollout value must be true or false, got {value!r}")
    if kind == "threshold":
        pct = body.get("percentage")
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100 or math.isnan(pct):
            raise fail(where, f"threshold percentage must be a number from 0 to 100, got {pct!r}")
        return Rollout(value=value, percentage=float(pct))
    keys: list[Any]
    if "keys" in body:
        keys = body["keys"] if isinstance(body["keys"], list) else [body["keys"]]
    else:
        keys = [body.get("key")]
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise fail(where, "segment rollout needs 'key' or 'keys'")
    missing = [k for k in keys if k not in segments]
    if missing:
        raise fail(where, f"segment rollout names unknown segment(s) {missing}")
    operator = body.get("operator", "OR_SEGMENT_OPERATOR")
    if operator not in _SEGMENT_OPERATORS:
        raise fail(where, f"segment operator must be one of {sorted(_SEGMENT_OPERATORS)}, got {operator!r}")
    return Rollout(value=value, segment_keys=tuple(keys), segment_operator=operator)


def _parse_flag(raw: Any, segments: Mapping[str, Segment], fail: Any) -> FlagDef:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str) or not _KEY.match(raw["key"]):
        key = raw.get("key") if isinstance(raw, Mapping) else raw
        raise fail("flag", f"each flag needs a key of letters, digits, '-', '_' (got {key!r})")
    key = raw["key"]
    where = f"flag {key!r}"
    unknown = _unknown_fields(raw, _FLAG_FIELDS)
    if unknown:
        raise fail(where, f"unknown field(s) {unknown}")
    ftype = raw.get("type")
    if ftype != BOOLEAN_FLAG_TYPE:
        raise fail(where, f"type must be {BOOLEAN_FLAG_TYPE} (the only type served here), got {ftype!r}")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise fail(where, f"enabled must be true or false, got {enabled!r}")
    for text_field in ("name", "description"):
        if text_field in raw and not isinstance(raw[text_field], str):
            raise fail(where, f"{text_field} must be a string, got {raw[text_field]!r}")
    rollouts = raw.get("rollouts") or []
    if not isinstance(rollouts, list):
        raise fail(where, "rollouts must be a list")
    return FlagDef(key=key, name=str(raw.get("name") or key), description=str(raw.get("description") or ""),
                   type=ftype, enabled=enabled,
                   rollouts=tuple(_parse_rollout(r, f"{where} rollout {i + 1}", segments, fail)
                                  for i, r in enumerate(rollouts)))


def parse_features(text: str, source: str = "features.yaml",
                   into: dict[str, Namespace] | None = None) -> dict[str, Namespace]:
    """Parse Flipt's declarative format (one namespace per YAML document); raise :class:`FeaturesFileError`."""
    namespaces = into if into is not None else {}
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise FeaturesFileError(f"{source}: not valid YAML: {exc}") from None
    for doc in documents:
        if not isinstance(doc, Mapping):
            raise FeaturesFileError(f"{source}: each document must be a mapping with 'namespace' and 'flags'")
        raw_ns = doc.get("namespace", "default")
        ns_key = raw_ns.get("key") if isinstance(raw_ns, Mapping) else raw_ns
        if not isinstance(ns_key, str) or not _KEY.match(ns_key):
            raise FeaturesFileError(f"{source}: namespace must be a key of letters, digits, '-', '_' (got {raw_ns!r})")

        def fail(what: str, problem: str, _ns: str = ns_key) -> FeaturesFileError:
            return _fail(source, _ns, what, problem)

        unknown = _unknown_fields(doc, {"version", "namespace", "flags", "segments"})
        if unknown:
            raise FeaturesFileError(f"{source}: namespace {ns_key!r}: unknown top-level field(s) {unknown}")
        namespace = namespaces.setdefault(ns_key, Namespace(ns_key))
        raw_segments = doc.get("segments") or []
        raw_flags = doc.get("flags") or []
        if not isinstance(raw_segments, list) or not isinstance(raw_flags, list):
            raise FeaturesFileError(f"{source}: namespace {ns_key!r}: 'flags' and 'segments' must be lists")
        for raw in raw_segments:
            segment = _parse_segment(raw, fail)
            if segment.key in namespace.segments:
                raise fail(f"segment {segment.key!r}", "duplicate segment key")
            namespace.segments[segment.key] = segment
        for raw in raw_flags:
            flag = _parse_flag(raw, namespace.segments, fail)
            if flag.key in namespace.flags:
                raise fail(f"flag {flag.key!r}", "duplicate flag key")
            namespace.flags[flag.key] = flag
    return namespaces


def load_features(paths: Iterable[str | Path]) -> dict[str, Namespace]:
    """Read and merge every file; a flag key may appear once per namespace across all of them."""
    namespaces: dict[str, Namespace] = {}
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise FeaturesFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        parse_features(text, str(path), namespaces)
    return namespaces
