"""Flipt's boolean evaluation: rollouts in rank order, threshold buckets, segment constraints."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from .features_file import Constraint, FlagDef, Namespace, Segment

# Flipt's evaluation reasons (their OFREP names are in http_api).
DEFAULT_REASON = "DEFAULT_EVALUATION_REASON"
MATCH_REASON = "MATCH_EVALUATION_REASON"


@dataclass(frozen=True)
class BooleanResult:
    enabled: bool
    reason: str
    segment_keys: tuple[str, ...] = ()


def _one_of(value: str) -> list[str]:
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    return [v if isinstance(v, str) else json.dumps(v) for v in parsed] if isinstance(parsed, list) else []


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _match_constraint(c: Constraint, context: Mapping[str, str], entity_id: str) -> bool:
    present = c.type == "ENTITY_ID_COMPARISON_TYPE" or c.property in context
    actual = entity_id if c.type == "ENTITY_ID_COMPARISON_TYPE" else context.get(c.property, "")
    op = c.operator
    if c.type == "BOOLEAN_COMPARISON_TYPE":
        if op in ("present", "notpresent"):
            return present == (op == "present")
        return present and actual.strip().lower() == op
    if op == "empty":
        return actual.strip() == ""
    if op == "notempty":
        return actual.strip() != ""
    if not present:
        return False
    if c.type == "NUMBER_COMPARISON_TYPE":
        n = _number(actual)
        if n is None:
            return False
        if op in ("isoneof", "isnotoneof"):
            found = any(_number(v) == n for v in _one_of(c.value))
            return found == (op == "isoneof")
        want = _number(c.value)
        if want is None:
            return False
        return {"eq": n == want, "neq": n != want, "lt": n < want, "lte": n <= want,
                "gt": n > want, "gte": n >= want}[op]
    if op in ("isoneof", "isnotoneof"):
        return (actual in _one_of(c.value)) == (op == "isoneof")
    return {"eq": actual == c.value, "neq": actual != c.value,
            "prefix": actual.startswith(c.value), "suffix": actual.endswith(c.value)}[op]


def _match_segment(segment: Segment, context: Mapping[str, str], entity_id: str) -> bool:
    results = (_match_constraint(c, context, entity_id) for c in segment.constraints)
    if not segment.constraints:
        return True
    return all(results) if segment.match_type == "ALL_MATCH_TYPE" else any(results)


def threshold_bucket(entity_id: str, flag_key: str) -> int:
    """Flipt's consistent bucket of an entity for a flag: ``crc32(entityId + flagKey) % 100``."""
    return zlib.crc32((entity_id + flag_key).encode()) % 100


def evaluate_boolean(namespace: Namespace, flag: FlagDef, entity_id: str,
                     context: Mapping[str, str]) -> BooleanResult:
    """Rollouts in rank order, first match wins; otherwise the flag's own value (reason DEFAULT)."""
    for rollout in flag.rollouts:
        if rollout.percentage is not None:
            if threshold_bucket(entity_id, flag.key) < rollout.percentage:
                return BooleanResult(rollout.value, MATCH_REASON)
            continue
        matched = [k for k in rollout.segment_keys if _match_segment(namespace.segments[k], context, entity_id)]
        needed = len(rollout.segment_keys) if rollout.segment_operator == "AND_SEGMENT_OPERATOR" else 1
        if len(matched) >= needed:
            return BooleanResult(rollout.value, MATCH_REASON, tuple(matched))
    return BooleanResult(flag.enabled, DEFAULT_REASON)
