"""A Flipt-compatible flag evaluation server, for demos and tests (no Flipt binary is installable here).

It reads Flipt's own declarative ``features.yaml`` (one namespace per file or per YAML document) and
answers Flipt's evaluation API with Flipt's request and response shapes:

* ``POST /evaluate/v1/boolean``  ``{namespaceKey, flagKey, entityId, context}`` ->
  ``{enabled, reason, requestId, requestDurationMillis, timestamp, flagKey, segmentKeys}``;
  an unknown flag is HTTP 404 with a gRPC-gateway error body ``{code: 5, message, details}``.
* ``POST /evaluate/v1/batch``    ``{requests: [...]}`` -> ``{requestId, responses: [...], requestDurationMillis}``;
  an unknown flag is an ``ERROR_EVALUATION_RESPONSE_TYPE`` entry, the rest are still answered.
* ``POST /ofrep/v1/evaluate/flags/{key}`` (namespace in ``X-Flipt-Namespace``, entity in
  ``context.targetingKey``) -> ``{key, reason, variant, value, metadata}``; ``POST /ofrep/v1/evaluate/flags``
  evaluates every flag of the namespace.
* ``GET /health`` -> ``{"status": "SERVING"}`` (never behind auth).

Request bodies are read the way Flipt's protojson gateway reads them: camelCase or the proto's
snake_case field names, ``null`` for an absent scalar. Boolean evaluation follows Flipt: rollouts are
tried in rank (file) order and the first that matches returns its value (reason ``MATCH``); a threshold
rollout matches when ``crc32(entityId + flagKey) % 100 < percentage``; a segment rollout matches when its
segments match the context (``OR_SEGMENT_OPERATOR``: any, ``AND_SEGMENT_OPERATOR``: all); when none
matches, the flag's own ``enabled`` is returned with reason ``DEFAULT``.

Only boolean flags are served: a ``VARIANT_FLAG_TYPE`` flag is refused when the file is read. With a
bearer token configured every evaluation path needs ``Authorization: Bearer <token>`` (401 otherwise).
The file is re-read when its modification time or size changes (checked at most every
``check_interval_s`` when a request arrives); a file that no longer parses is logged and the last good
one keeps being served. A file that does not parse at start-up stops the server with a
:class:`FeaturesFileError` naming the flag (or segment) and the problem.

Run it: ``python -m torghut_embedded.flags_server --file deploy/flags/features.yaml --port 8013``
(``torghut-infra up`` does this), or in-process with :class:`FlagsServer`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import socket
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("torghut_embedded.flags_server")

TOKEN_ENV = "TORGHUT_FLAGS_SERVER_TOKEN"
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

# gRPC status codes Flipt's HTTP gateway puts in error bodies.
_INVALID_ARGUMENT, _NOT_FOUND, _UNAUTHENTICATED = 3, 5, 16

# Flipt's evaluation reasons, and their OFREP names.
DEFAULT_REASON = "DEFAULT_EVALUATION_REASON"
MATCH_REASON = "MATCH_EVALUATION_REASON"
_OFREP_REASON = {DEFAULT_REASON: "DEFAULT", MATCH_REASON: "TARGETING_MATCH",
                 "FLAG_DISABLED_EVALUATION_REASON": "DISABLED", "UNKNOWN_EVALUATION_REASON": "UNKNOWN"}


class FeaturesFileError(ValueError):
    """``features.yaml`` is malformed; the message names the file, the namespace and the flag or segment."""


# -- the file ------------------------------------------------------------------------------------


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


# -- evaluation (Flipt's boolean semantics) -----------------------------------------------------


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


# -- the store: the files, re-read when they change ---------------------------------------------


class FlagStore:
    """The parsed files; :meth:`current` re-reads them when one changed (at most every ``check_interval_s``)."""

    def __init__(self, paths: Sequence[str | Path], *, check_interval_s: float = 0.5) -> None:
        self.paths = [Path(p) for p in paths]
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._namespaces = load_features(self.paths)  # a bad file at start-up raises
        self._checked = time.monotonic()
        self.reloads = 0
        self.last_error: str | None = None

    def _stat(self) -> tuple[tuple[int, int] | None, ...]:
        stamps: list[tuple[int, int] | None] = []
        for path in self.paths:
            try:
                st = path.stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the files if they changed (or ``force``); True if new content is now served."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stat()
            if stamp == self._stamp and not force:
                return False
            self._stamp = stamp
            try:
                namespaces = load_features(self.paths)
            except FeaturesFileError as exc:
                self.last_error = str(exc)
                log.error("features file not reloaded, the previous one stays in force: %s", exc)
                return False
            self._namespaces = namespaces
            self.last_error = None
            self.reloads += 1
            log.info("features reloaded: %s", {k: len(v.flags) for k, v in namespaces.items()})
            return True

    def current(self) -> dict[str, Namespace]:
        if time.monotonic() - self._checked >= self.check_interval_s:
            self.reload()
        return self._namespaces


# -- HTTP ----------------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _grpc_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)


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


class FlagsApp:
    """The Starlette app over a :class:`FlagStore`; ``tokens`` turns bearer auth on."""

    def __init__(self, store: FlagStore, tokens: Iterable[str] = ()) -> None:
        self.store = store
        self.tokens = frozenset(t for t in tokens if t)
        self.requests = 0
        self.app = Starlette(routes=[
            Route("/health", self.health, methods=["GET"]),
            Route("/evaluate/v1/boolean", self.boolean, methods=["POST"]),
            Route("/evaluate/v1/batch", self.batch, methods=["POST"]),
            Route("/ofrep/v1/evaluate/flags", self.ofrep_bulk, methods=["POST"]),
            Route("/ofrep/v1/evaluate/flags/{key}", self.ofrep_flag, methods=["POST"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _denied(self, request: Request) -> Response | None:
        self.requests += 1
        if not self.tokens:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() in self.tokens:
            return None
        return _grpc_error(401, _UNAUTHENTICATED, "request was not authenticated")

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise _BadRequest(f"request body is not JSON: {exc}") from None

    def _lookup(self, namespace: str, key: str) -> tuple[Namespace, FlagDef] | None:
        ns = self.store.current().get(namespace)
        flag = None if ns is None else ns.flags.get(key)
        return None if ns is None or flag is None else (ns, flag)

    def _boolean_body(self, req: _EvalRequest, started: float) -> dict[str, Any] | None:
        found = self._lookup(req.namespace, req.flag_key)
        if found is None:
            return None
        result = evaluate_boolean(found[0], found[1], req.entity_id, req.context)
        return {"enabled": result.enabled, "reason": result.reason, "requestId": req.request_id,
                "requestDurationMillis": (time.perf_counter() - started) * 1000, "timestamp": _now_iso(),
                "flagKey": req.flag_key, "segmentKeys": list(result.segment_keys)}

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "SERVING"})

    async def boolean(self, request: Request) -> Response:
        started = time.perf_counter()
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            req = _eval_request(await self._json(request))
        except _BadRequest as exc:
            return _grpc_error(400, _INVALID_ARGUMENT, str(exc))
        body = self._boolean_body(req, started)
        if body is None:
            return _grpc_error(404, _NOT_FOUND, f'flag "{req.namespace}/{req.flag_key}" not found')
        return JSONResponse(body)

    async def batch(self, request: Request) -> Response:
        started = time.perf_counter()
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            raw = await self._json(request)
            if not isinstance(raw, Mapping) or not isinstance(raw.get("requests"), list):
                raise _BadRequest("requests must be a list")
            batch_id = _string_field(raw, "requestId", "request_id") or str(uuid.uuid4())
            requests = [_eval_request({**r, "requestId": batch_id} if isinstance(r, Mapping) else r)
                        for r in raw["requests"]]
        except _BadRequest as exc:
            return _grpc_error(400, _INVALID_ARGUMENT, str(exc))
        responses: list[dict[str, Any]] = []
        for req in requests:
            body = self._boolean_body(req, started)
            if body is None:
                responses.append({"type": "ERROR_EVALUATION_RESPONSE_TYPE", "errorResponse": {
                    "flagKey": req.flag_key, "namespaceKey": req.namespace,
                    "reason": "NOT_FOUND_ERROR_EVALUATION_REASON"}})
            else:
                responses.append({"type": "BOOLEAN_EVALUATION_RESPONSE_TYPE", "booleanResponse": body})
        return JSONResponse({"requestId": batch_id, "responses": responses,
                             "requestDurationMillis": (time.perf_counter() - started) * 1000})

    def _ofrep_context(self, raw: Any) -> tuple[str, dict[str, str]]:
        if not isinstance(raw, Mapping):
            raise _BadRequest("request body must be a JSON object")
        context = _context(raw.get("context"), stringify=True)
        return context.pop("targetingKey", ""), context

    @staticmethod
    def _ofrep_body(ns: Namespace, flag: FlagDef, entity_id: str, context: Mapping[str, str]) -> dict[str, Any]:
        result = evaluate_boolean(ns, flag, entity_id, context)
        metadata: dict[str, Any] = {}
        if result.segment_keys:
            metadata["segmentKeys"] = ",".join(result.segment_keys)
        return {"key": flag.key, "reason": _OFREP_REASON[result.reason], "variant": str(result.enabled).lower(),
                "value": result.enabled, "metadata": metadata}

    async def ofrep_flag(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        key = request.path_params["key"]
        namespace = request.headers.get("x-flipt-namespace") or "default"
        try:
            entity_id, context = self._ofrep_context(await self._json(request))
        except _BadRequest as exc:
            return JSONResponse({"key": key, "errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}, 400)
        found = self._lookup(namespace, key)
        if found is None:
            return JSONResponse({"key": key, "errorCode": "FLAG_NOT_FOUND",
                                 "errorDetails": f'flag "{namespace}/{key}" not found'}, 404)
        return JSONResponse(self._ofrep_body(found[0], found[1], entity_id, context))

    async def ofrep_bulk(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        namespace = request.headers.get("x-flipt-namespace") or "default"
        try:
            entity_id, context = self._ofrep_context(await self._json(request))
        except _BadRequest as exc:
            return JSONResponse({"errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}, 400)
        ns = self.store.current().get(namespace) or Namespace(namespace)
        return JSONResponse({"flags": [self._ofrep_body(ns, f, entity_id, context) for f in ns.flags.values()]})


def create_app(paths: Sequence[str | Path], *, tokens: Iterable[str] = (), check_interval_s: float = 0.5) -> FlagsApp:
    """An ASGI app serving ``paths``; raises :class:`FeaturesFileError` if they do not parse."""
    return FlagsApp(FlagStore(paths, check_interval_s=check_interval_s), tokens)


# -- running it ----------------------------------------------------------------------------------


class FlagsServer:
    """The app under uvicorn in a background thread, on loopback: for tests and in-process demos.

    >>> with FlagsServer(["features.yaml"]) as server:      # doctest: +SKIP
    ...     server.url                                     # http://127.0.0.1:PORT
    """

    def __init__(self, paths: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 0,
                 tokens: Iterable[str] = (), check_interval_s: float = 0.5) -> None:
        self.flags = create_app(paths, tokens=tokens, check_interval_s=check_interval_s)
        self.host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def store(self) -> FlagStore:
        return self.flags.store

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("the flags server is not running")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = 10.0) -> Self:
        import uvicorn

        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = int(sock.getsockname()[1])  # a restart comes back on the same port
        self._sock = sock
        config = uvicorn.Config(self.flags, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="torghut-flags-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the flags server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (new connections are refused); :meth:`start` brings it back on the same port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = None

    def write(self, text: str, path: str | Path | None = None) -> None:
        """Replace a served file's content (atomically) and reload it now; a bad file raises
        :class:`FeaturesFileError` (and the previous content stays in force)."""
        target = Path(path) if path is not None else self.store.paths[0]
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
        self.store.reload(force=True)
        if self.store.last_error is not None:
            raise FeaturesFileError(self.store.last_error)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m torghut_embedded.flags_server --file F [--file F2] [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="torghut-flags-server",
                                     description="Flipt-compatible flag evaluation server over features.yaml")
    parser.add_argument("--file", action="append", required=True, type=Path, help="features.yaml (repeatable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8013)
    parser.add_argument("--check-interval", type=float, default=0.5, help="seconds between file change checks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tokens = [t.strip() for t in os.environ.get(TOKEN_ENV, "").split(",") if t.strip()]
    try:
        app = create_app(args.file, tokens=tokens, check_interval_s=args.check_interval)
    except FeaturesFileError as exc:
        print(f"torghut-flags-server: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    log.info("serving %s on http://%s:%d (auth %s)", [str(f) for f in args.file], args.host, args.port,
             "on" if tokens else "off")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
