"""Evaluation request bodies read the way Flipt's protojson gateway reads them (camelCase or snake_case)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class _BadRequest(Exception):
    pass


def _field(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = body.get(camel)
    return body.get(snake) if value is None else value


def _string_field(body: Mapping[str, Any], camel: str, snake: str, default: str = "") -> str:
    value = _field(body, camel, snake)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _BadRequest(f"{camel} must be a string")
    return value


def _context(raw: Any, *, stringify: bool) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _BadRequest("context must be an object")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            out[str(key)] = value
        elif stringify and value is not None:
            out[str(key)] = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
        elif not stringify:
            raise _BadRequest(f"context.{key} must be a string")
    return out


@dataclass(frozen=True)
class _EvalRequest:
    namespace: str
    flag_key: str
    entity_id: str
    context: dict[str, str]
    request_id: str


def _eval_request(body: Any) -> _EvalRequest:
    if not isinstance(body, Mapping):
        raise _BadRequest("request body must be a JSON object")
    flag_key = _string_field(body, "flagKey", "flag_key")
    if not flag_key:
        raise _BadRequest("flagKey must not be empty")
    entity_id = _string_field(body, "entityId", "entity_id")
    if not entity_id:
        raise _BadRequest("entityId must not be empty")
    return _EvalRequest(namespace=_string_field(body, "namespaceKey", "namespace_key") or "default",
                        flag_key=flag_key, entity_id=entity_id, context=_context(body.get("context"), stringify=False),
                        request_id=_string_field(body, "requestId", "request_id") or str(uuid.uuid4()))
